"""One word per concept and one citation style per language: the glossary
(locale/glossary.txt) names the variants no translation may use."""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale"


def glossary() -> list[tuple[str, str, str, list[str]]]:
    rules = []
    for line in (LOCALE / "glossary.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        language, concept, word, never = (part.strip() for part in line.split(" | "))
        rules.append((language, concept, word, [p.strip() for p in never.split(" ; ")]))
    return rules


def translations(language: str) -> list[tuple[str, str]]:
    po = polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))
    return [(entry.msgid, text) for entry in po if not entry.obsolete
            for text in [entry.msgstr, *entry.msgstr_plural.values()] if text]


@pytest.mark.parametrize("language", ["de", "fr", "nl"])
def test_no_translation_uses_a_forbidden_variant(language):
    found = []
    texts = translations(language)
    for rule_language, concept, word, never in glossary():
        if rule_language != language:
            continue
        for pattern in never:
            found += [f"{concept}: {m.group(0)!r} instead of {word!r} in {msgid[:60]!r}"
                      for msgid, text in texts for m in re.finditer(pattern, text)]
    assert found == []


def test_every_language_has_a_glossary():
    assert {rule[0] for rule in glossary()} == {"de", "fr", "nl"}


def test_the_glossary_catches_what_it_forbids():
    # The forbidden variants the pages once showed.
    samples = {"de": "Art. 9 Abs. 2 lit. a DSGVO; Prüfpfad-Köpfe",
               "fr": "Ce sont tous moi; têtes d'audit; gabarit de visage",
               "nl": "gezichtssjabloon in de databank (art. 6, lid 1, f, AVG)"}
    for language, text in samples.items():
        hits = [p for lang, _c, _w, never in glossary() if lang == language
                for p in never if re.search(p, text)]
        assert len(hits) >= 2, (language, hits)
