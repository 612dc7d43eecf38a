"""Every page a person or the DPO can reach has a title of its own (a tab,
a bookmark and a screen reader's first words tell them apart)."""

import re
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from search.models import Face
from subjects.core import tokens
from subjects.models import Match, RightsRequest
from subjects.person import intake
from tests.subjects.dpo_helpers import log_in_verified, make_dpo
from tests.subjects.helpers import ingest, verified_in

pytestmark = pytest.mark.django_db


def title_of(response) -> str:
    found = re.search(r"<title>(.*?)</title>", response.content.decode(), re.S)
    assert found, response.request["PATH_INFO"]
    return " ".join(unescape(found.group(1)).split())


def in_state(request: RightsRequest, state: str, **fields) -> None:
    RightsRequest.objects.filter(pk=request.pk).update(state=state, **fields)


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_page_has_its_own_title(language):
    titles: dict[str, str] = {}
    person, stranger = Client(), Client()
    for client in (person, stranger):
        client.cookies["django_language"] = language

    def visit(name, client, path, method="get", data=None, status=None):
        response = getattr(client, method)(path, data or {})
        if status is not None:
            assert response.status_code == status, (name, response.status_code)
        titles[name] = title_of(response)

    visit("home", stranger, "/", status=200)
    visit("start", stranger, "/start/", status=200)
    visit("start sent", stranger, "/start/sent/", status=200)
    unverified = intake.start_request(email="titles.new@example.org", language=language)
    visit("verify", stranger, f"/verify/{tokens.verification_token(unverified)}/", status=200)
    visit("link not valid", stranger, "/verify/nonsense/", status=404)
    visit("download gone", stranger, "/package/nonsense/", status=404)
    visit("transparency", stranger, "/transparency/", status=200)
    visit("not found", stranger, "/r/nonsense/status/", status=404)
    visit("wrong method", stranger, "/start/", method="put", status=405)

    request = verified_in(person, "titles@example.org", language)
    token = tokens.access_token(request)
    visit("selfie", person, f"/r/{token}/selfie/", status=200)
    visit("camera check", person, f"/r/{token}/live/", status=200)
    visit("other browser", stranger, f"/r/{token}/status/", status=403)
    in_state(request, "searching")
    visit("searching", person, f"/r/{token}/matches/", status=200)
    in_state(request, "identity_review")
    visit("identity check", person, f"/r/{token}/matches/", status=200)
    in_state(request, "matches_ready", selfie_live=True)
    ingest("obama_1.jpg")
    face = Face.objects.get(photo__file_name="obama_1.jpg")
    match = Match.objects.create(request=request, face=face, photo_id_at_search=face.photo_id,
                                 distance=0.3, tier="match")
    visit("matches", person, f"/r/{token}/matches/", status=200)
    visit("check request", person,
          f"/r/{token}/file/?decision_{match.pk}=mine&kinds=erasure", status=200)
    in_state(request, "awaiting_review", access=True, received_at=timezone.now())
    visit("status", person, f"/r/{token}/status/", status=200)
    visit("withdraw", person, f"/r/{token}/withdraw/", status=200)

    desk = log_in_verified(Client(), make_dpo()[0])
    desk.cookies["django_language"] = language
    visit("dpo login", Client(), "/dpo/login/", status=200)
    visit("dpo queue", desk, "/dpo/", status=200)
    visit("dpo request", desk, f"/dpo/requests/{request.reference}/", status=200)
    visit("dpo confirm", desk, f"/dpo/requests/{request.reference}/actions/approve/",
          method="post", status=200)
    visit("dpo figures", desk, "/dpo/figures/", status=200)
    visit("dpo keys", desk, "/dpo/keys/", status=200)
    visit("dpo password", desk, "/dpo/password/", status=200)
    for name in ("breaches", "processing", "impact_list", "inspection"):
        visit(f"office {name}", desk, reverse(f"office:{name}"), status=200)

    withdrawn = verified_in(person, "titles.closed@example.org", language)
    in_state(withdrawn, "withdrawn", closed_at=timezone.now())
    visit("closed", person, f"/r/{tokens.access_token(withdrawn)}/selfie/", status=410)

    seen: dict[str, str] = {}
    same = [(seen[title], name, title) for name, title in titles.items()
            if seen.setdefault(title, name) != name]
    assert same == [], same
