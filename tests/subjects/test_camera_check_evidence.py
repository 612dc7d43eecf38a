"""The DPO sees what the camera check measured: each rule's value against
its threshold, per pose, and the distance from the live face to the
nearest scraped face with its likeness as a picture (the copy flag)."""

import re

import pytest

from subjects.core import tokens
from subjects.person.camera_check.rules.known_photo import COPY_MIN
from subjects.person.camera_check.rules.replay import FACE_REPLAY_MAX_BITS
from tests.subjects.dpo_helpers import log_in_verified, make_dpo
from tests.subjects.helpers import ingest, live_capture, verified_in

pytestmark = pytest.mark.django_db


def test_the_dpo_page_shows_each_rules_value_and_the_nearest_scraped_face(client):
    ingest("lin_manuel_miranda_1.png")
    request = verified_in(client, "shows.the.evidence@example.org")
    response = live_capture(client, tokens.access_token(request))
    assert response.status_code == 200 and response.json()["done"] is True, response.content
    challenge = request.challenges.get()
    rules = {(row["rule"], row["pose"]) for row in challenge.evidence["rules"]}
    assert rules == {("replay_bits", p) for p in ("straight", "left", "right")} | {
        ("copy_score", p) for p in ("straight", "left", "right")} | {
        (r, p) for r in ("motion", "turn", "turn_seen") for p in ("left", "right")}

    dpo, _enrolment = make_dpo()
    desk = log_in_verified(client, dpo)
    page = desk.get(f"/dpo/requests/{request.reference}/").content.decode()
    section = page[page.index('class="camera-evidence"'):]
    section = section[:section.index("</section>")]
    assert "What the camera check measured" in section
    rows = re.findall(r'<tr class="rule-([a-z_]+)"><td>[^<]+</td><td>(\w+)</td><td>([-\d.]+)</td>'
                      r"<td>(\S+) ([-\d.]+)</td><td>(yes|no)</td></tr>", section)
    assert len(rows) == 12
    assert all(verdict == "yes" for *_, verdict in rows)
    assert {(rule, sense, float(threshold)) for rule, _p, _v, sense, threshold, _ok in rows
            if rule in ("replay_bits", "copy_score")} == {
        ("replay_bits", "&gt;", FACE_REPLAY_MAX_BITS), ("copy_score", "&lt;", COPY_MIN)}
    # The performer's press photo is in the index: near by embedding, not a
    # copy as a picture.
    nearest = challenge.evidence["nearest_scraped"]
    assert nearest is not None and nearest < 0.6
    assert f"Nearest scraped face: distance {nearest}" in section
    assert challenge.evidence["copy_score"] < COPY_MIN
    assert challenge.evidence["copy_flag"] is False and 'class="copy-flag"' not in section
