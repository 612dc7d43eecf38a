"""The REST API: who may call what, the DPO endpoints, the requester's
status, and the crawler's suppression check with every kind of bad input."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.cache import cache
from django.test import Client

from portal.models import RateCounter
from search.backends import get_backend
from search.imaging import load_image
from search.models import Face, Suppression
from subjects.api import urls as api_urls
from subjects.dpo.models import ApiKey
from subjects.models import Match, OutboundEmail
from subjects.person import intake
from subjects.review import actions
from tests.conftest import FACES_DIR
from tests.subjects.dpo_helpers import (
    crawler_key,
    dpo_key,
    embedding,
    log_in_verified,
    make_dpo,
    make_request,
    make_staff,
    requester_token,
)
from tests.subjects.helpers import confirm_in, ingest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttles():
    # Throttle counters live in the cache, which outlives each test's transaction.
    cache.clear()
    yield
    cache.clear()


def embedding_of(file_name: str) -> list[float]:
    faces = get_backend("dlib").detect(load_image(FACES_DIR / file_name))
    return faces[0].embedding.tolist()


@pytest.fixture
def keys():
    dora, _ = make_dpo()
    return {"dpo": dpo_key(dora), "crawler": crawler_key(), "dora": dora}


def bearer(key: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


# -- who may call what -------------------------------------------------------------

PERSONAS = ("anonymous", "requester", "staff", "dpo_key", "dpo_session", "crawler")


def test_every_api_endpoint_answers_each_persona_as_expected(keys):
    request = make_request("awaiting_review", received_days_ago=2)
    token = requester_token(request)
    staff = make_staff()
    ref = request.reference
    clients = {
        "anonymous": Client(),
        # A requester's access token is no API key: it opens their status only.
        "requester": bound_requester(request, HTTP_AUTHORIZATION=f"Bearer {token}",
                                     HTTP_X_ACCESS_TOKEN=token),
        "staff": log_in_verified(Client(), staff),
        "dpo_key": bearer(keys["dpo"]),
        "dpo_session": log_in_verified(Client(), keys["dora"]),
        "crawler": bearer(keys["crawler"]),
    }
    dpo_only = {"anonymous": 401, "requester": 401, "staff": 403, "crawler": 403}
    suppression = {"model": "dlib", "embedding": embedding(1)}
    # (url name, method, path, body, {persona: status}), personas in order.
    calls = [
        ("api-schema", "GET", "/api/schema/", None, dict.fromkeys(PERSONAS, 200)),
        ("api-docs", "GET", "/api/docs/", None, dict.fromkeys(PERSONAS, 200)),
        ("api-requests", "GET", "/api/v1/requests", None,
         {**dpo_only, "dpo_key": 200, "dpo_session": 200}),
        ("api-request", "GET", f"/api/v1/requests/{ref}", None,
         {**dpo_only, "dpo_key": 200, "dpo_session": 200}),
        ("api-request", "GET", "/api/v1/requests/FR-0000-0000-0000", None,
         {**dpo_only, "dpo_key": 404, "dpo_session": 404}),
        ("api-figures", "GET", "/api/v1/figures", None,
         {**dpo_only, "dpo_key": 200, "dpo_session": 200}),
        ("api-status", "GET", f"/api/v1/status/{ref}", None,
         {**dict.fromkeys(PERSONAS, 404), "requester": 200}),
        ("api-suppression-check", "POST", "/api/v1/suppression/check", suppression,
         {"anonymous": 401, "requester": 401, "staff": 401, "dpo_key": 403,
          "dpo_session": 401, "crawler": 200}),
    ]
    # Each action on a request whose state offers it: refused to all but the
    # DPO; the DPO's key does it, and their session then finds it done (409).
    states = {"information-received": "info_requested", "resume": "error",
              "confirm-requester": "identity_review"}
    bodies = {"reject": {"reason": "No."}, "close-unfounded": {"reason": "Abusive."},
              "extend": {"months": 1, "reason": "Many photos", "ground": "complexity"},
              "ask-for-information": {"question": "Which?"}}
    for pattern in api_urls.ACTION_PATHS:
        action = pattern.name.removeprefix("api-")
        target = make_request(states.get(action, "awaiting_review"), received_days_ago=2)
        if action == "decide-claims":
            # A face of the ``possible`` tier the person claims, for the DPO to decide.
            ingest("obama_1.jpg", site=f"claims-{target.pk}.example")
            face = Face.objects.filter(photo__site=f"claims-{target.pk}.example").get()
            Match.objects.create(request=target, face=face, photo_id_at_search=face.photo_id,
                                 distance=0.6, tier="possible", decision="mine")
        # Confirming a requester needs the photo, which only the dashboard shows.
        # Cutting the links can be done again (another leak): no 409.
        done = ({"dpo_key": 403, "dpo_session": 403} if action == "confirm-requester"
                else {"dpo_key": 200, "dpo_session": 200} if action == "renew-links"
                else {"dpo_key": 200, "dpo_session": 409})
        calls.append((pattern.name, "POST", f"/api/v1/requests/{target.reference}/{action}",
                      bodies.get(action, {}), {**dpo_only, **done}))
    assert {name for name, *_ in calls} == {p.name for p in api_urls.urlpatterns}, \
        "an API endpoint is missing from this sweep"
    for name, method, path, body, expected in calls:
        for persona in PERSONAS:
            client = clients[persona]
            if method == "GET":
                response = client.get(path)
            else:
                response = client.post(path, json.dumps(body), content_type="application/json")
            assert response.status_code == expected[persona], (name, path, persona,
                                                               response.content[:200])
            if response.status_code >= 400 and response["Content-Type"].startswith(
                    "application/json"):
                assert response.json()["detail"], (name, persona)
    # No action reached the request of the GETs.
    request.refresh_from_db()
    assert request.state == "awaiting_review"


def test_offered_actions_work_through_the_api_and_name_the_key(keys):
    # An erasure: Art. 17(3)(b), below, refuses an erasure only.
    request = make_request("awaiting_review", received_days_ago=2, kinds=("erasure",))
    client = bearer(keys["dpo"])
    detail = client.get(f"/api/v1/requests/{request.reference}").json()
    assert set(detail["actions"]) == {"approve", "reject", "ask-for-information",
                                      "close-unfounded", "search-again", "extend",
                                      "renew-links"}
    response = client.post(f"/api/v1/requests/{request.reference}/extend",
                           {"months": 2, "reason": "Many photos", "ground": "number"},
                           content_type="application/json")
    assert response.status_code == 200
    assert "extend" not in response.json()["actions"]
    response = client.post(f"/api/v1/requests/{request.reference}/ask-for-information",
                           {"question": "Which years?"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["state"] == "info_requested"
    event = request.events.get(action="info_requested")
    prefix = ApiKey.objects.get(purpose="dpo").prefix
    assert event.actor == f"dpo:dora.dpo@example.org (API key {prefix})"
    response = client.post(f"/api/v1/requests/{request.reference}/reject",
                           {"reason_template": "legal_obligation", "reason": "A court order."},
                           content_type="application/json")
    assert response.status_code == 200 and response.json()["state"] == "rejected"
    assert OutboundEmail.objects.filter(request=request, kind="rejected").exists()
    again = client.post(f"/api/v1/requests/{request.reference}/approve", {},
                        content_type="application/json")
    assert again.status_code == 409
    assert "does not offer" in again.json()["detail"]


def test_bad_action_input_is_a_400_with_reasons(keys):
    request = make_request("awaiting_review", received_days_ago=2)
    client = bearer(keys["dpo"])
    for action, body in (("extend", {"months": 3, "reason": "x", "ground": "complexity"}),
                         ("extend", {"months": 1, "ground": "complexity"}),
                         ("extend", {"months": 1, "reason": "Many photos"}),
                         ("reject", {"reason_template": "nonsense"}),
                         ("reject", {"reason": ""}),
                         ("ask-for-information", {"question": "a\x00b"}),
                         ("close-unfounded", ["not", "an", "object"])):
        response = client.post(f"/api/v1/requests/{request.reference}/{action}",
                               json.dumps(body), content_type="application/json")
        assert response.status_code == 400, (action, body, response.content)
    request.refresh_from_db()
    assert request.state == "awaiting_review" and request.extension_months == 0


def test_the_list_filters_and_pages_and_never_shows_an_address(keys):
    for n in range(5):
        make_request("awaiting_review", received_days_ago=n, language="nl" if n else "de",
                     email=f"list{n}@example.org")
    make_request("unverified", received_days_ago=None)
    client = bearer(keys["dpo"])
    page = client.get("/api/v1/requests?page_size=2").json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"]
    assert "@" not in json.dumps(page)
    assert client.get("/api/v1/requests?language=de").json()["count"] == 1
    assert client.get("/api/v1/requests?include_unverified=true").json()["count"] == 6
    assert client.get("/api/v1/requests?state=unverified").json()["count"] == 1
    bad = client.get("/api/v1/requests?state=nonsense")
    assert bad.status_code == 400 and "state" in bad.json()
    first = page["results"][0]
    assert set(first) >= {"reference", "state", "types", "received_at", "due_on", "days_left",
                          "overdue"}
    detail = client.get(f"/api/v1/requests/{first['reference'].lower()}").json()
    assert "email" not in detail and "@" not in json.dumps(detail)
    assert detail["timeline"][0]["action"] == "created"


# -- the requester's status -----------------------------------------------------------


def bound_requester(request, **headers) -> Client:
    """A browser that confirmed the request's address (a new link, asked
    for from another device), with ``headers`` on every call."""
    browser = Client(**headers)
    intake.send_new_link(request)
    request.refresh_from_db()
    confirm_in(browser, request)
    return browser


def test_the_requester_reads_their_status_with_their_token_only():
    request = make_request("awaiting_review", received_days_ago=2, email="ria@example.org")
    other = make_request("awaiting_review", received_days_ago=2)
    token = requester_token(request)
    browser = bound_requester(request, HTTP_X_ACCESS_TOKEN=token)
    ok = browser.get(f"/api/v1/status/{request.reference}")
    assert ok.status_code == 200
    data = ok.json()
    assert data["state"] == "awaiting_review" and data["types"] == ["access"]
    assert data["due_on"] == request.due_date.isoformat()
    assert "ria@" not in json.dumps(data)
    for reference, presented in ((other.reference, token),
                                 (request.reference, requester_token(other)),
                                 # One hex digit changed (never left as it was).
                                 (request.reference, token[:-1] + ("1" if token[-1] == "0"
                                                                   else "0")),
                                 (request.reference, "")):
        response = browser.get(f"/api/v1/status/{reference}", HTTP_X_ACCESS_TOKEN=presented)
        assert response.status_code == 404


def test_the_status_api_without_the_browser_cookie_gets_no_status():
    # The access token alone (a forwarded e-mail, a mail scanner's log) is
    # not enough: the API asks for the same browser as the status page.
    request = make_request("awaiting_review", received_days_ago=2, email="leaked@example.org")
    token = requester_token(request)
    bound_requester(request)
    stranger = Client(HTTP_X_ACCESS_TOKEN=token)
    assert stranger.get(f"/r/{token}/status/").status_code == 403
    response = stranger.get(f"/api/v1/status/{request.reference}")
    assert response.status_code == 403
    assert response.json() == {"detail": "The status of a request can be read only in the "
                                          "browser where its e-mail address was confirmed."}


def test_the_status_api_never_returns_the_dpos_free_text():
    request = make_request("awaiting_review", received_days_ago=2, email="told@example.org")
    reason = "Dora is on leave; the colleague who knows this file returns in March."
    actions.perform(request, actions.EXTEND, actor="dpo:dora",
                    data={"months": 2, "reason": reason, "ground": "number"})
    browser = bound_requester(request, HTTP_X_ACCESS_TOKEN=requester_token(request))
    data = browser.get(f"/api/v1/status/{request.reference}").json()
    assert data["extension_months"] == 2 and "extended" in [e["action"] for e in data["timeline"]]
    assert "leave" not in json.dumps(data) and "extension_reason" not in data


def test_status_calls_are_throttled_per_address(settings):
    settings.API_RATES = {**settings.API_RATES, "status": "2/m"}
    request = make_request("awaiting_review")
    client = bound_requester(request, HTTP_X_ACCESS_TOKEN=requester_token(request))
    codes = [client.get(f"/api/v1/status/{request.reference}").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_api_throttles_count_in_the_store_every_process_shares(settings):
    # One count for every web worker and machine: the abuse limits' table
    # (or Redis with CACHE_URL), never a cache inside one process.
    settings.API_RATES = {**settings.API_RATES, "status": "2/m"}
    request = make_request("awaiting_review")
    client = bound_requester(request, HTTP_X_ACCESS_TOKEN=requester_token(request))
    client.get(f"/api/v1/status/{request.reference}")
    if settings.RATE_LIMIT_STORE == "database":
        counters = RateCounter.objects.filter(key__startswith="rl:api-status:")
        assert [c.hits for c in counters] == [1]
        cache.clear()  # the Django cache holds none of it: the count stays
    client.get(f"/api/v1/status/{request.reference}")
    response = client.get(f"/api/v1/status/{request.reference}")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


# -- the crawler's suppression check ---------------------------------------------------


def check(key: str, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return bearer(key).post("/api/v1/suppression/check", data,
                            content_type=extra.pop("content_type", "application/json"), **extra)


def test_an_erased_persons_other_photos_are_suppressed_and_others_are_not(keys):
    Suppression.objects.create(model="dlib", embedding=embedding_of("obama_1.jpg"),
                               reason="erasure", request_reference="FR-TEST-0000-0001")
    key = keys["crawler"]
    for photo, expected in (("obama_5.jpg", True), ("obama_2.jpg", True),
                            ("kit_harington_1.jpg", False)):
        response = check(key, {"model": "dlib", "embedding": embedding_of(photo)})
        assert response.status_code == 200, response.content
        assert response.json() == {"suppressed": expected, "model": "dlib"}, photo
    image = bearer(key).post("/api/v1/suppression/check", {
        "image": (FACES_DIR / "obama_5.jpg").open("rb"), "model": "dlib"})
    assert image.status_code == 200
    answer = image.json()
    assert answer["suppressed"] is True and len(answer["faces"]) == 1
    assert answer["faces"][0]["suppressed"] is True and len(answer["faces"][0]["box"]) == 4
    other = bearer(key).post("/api/v1/suppression/check",
                             {"image": (FACES_DIR / "kit_harington_1.jpg").open("rb")})
    assert other.status_code == 200 and other.json()["suppressed"] is False


@pytest.mark.parametrize(("body", "says"), [
    ({"model": "dlib", "embedding": [0.1] * 127}, "makes embeddings of 128 numbers; this one "
                                                  "has 127"),
    ({"model": "dlib", "embedding": [0.1] * 127 + ["0.1"]}, "must be a number"),
    ({"model": "dlib", "embedding": [0.1] * 127 + [True]}, "must be a number"),
    ({"model": "dlib", "embedding": [0.1] * 127 + [None]}, "must be a number"),
    ({"model": "dlib", "embedding": [0.1] * 127 + [1e39]}, "finite number"),
    ({"model": "dlib", "embedding": [0.1] * 127 + [10**400]}, "finite number"),
    ({"model": "arcface-9000", "embedding": [0.1] * 128}, "Unknown face model"),
    ({"model": 7, "embedding": [0.1] * 128}, "must be the name of a face model"),
    ({"embedding": [0.1] * 128}, "Say which face model"),
    ({"model": "dlib", "embedding": "0.1, 0.2"}, "must be a list of numbers"),
    ({"model": "dlib"}, "Send a JSON object"),
    (["dlib", [0.1]], "Send a JSON object"),
    ('{"model": "dlib", "embedding": [NaN' + ", 0.1" * 127 + "]}", "JSON parse error"),
    ('{"model": "dlib", "embedding": [0.1,', "JSON parse error"),
])
def test_bad_questions_get_a_400_with_a_sentence(keys, body, says):
    response = check(keys["crawler"], body)
    assert response.status_code == 400, response.content
    assert says in response.json()["detail"]


def test_bad_images_and_oversized_bodies_are_refused_with_a_sentence(keys, settings):
    key = keys["crawler"]
    garbage = bearer(key).post("/api/v1/suppression/check",
                               {"image": ("x.jpg", b"not an image at all")})
    assert garbage.status_code == 400 and garbage.json()["detail"]
    big = check(key, {"model": "dlib", "embedding": [0.1] * 20000})
    assert big.status_code == 413 and "larger than 64 KB" in big.json()["detail"]
    settings.FACE_UPLOAD_MAX_BYTES = 10_000
    photo = bearer(key).post("/api/v1/suppression/check",
                             {"image": (FACES_DIR / "obama_5.jpg").open("rb")})
    assert photo.status_code == 413 and photo.json()["detail"]
    text = check(key, "model=dlib", content_type="text/plain")
    assert text.status_code == 415


def test_a_revoked_crawler_key_stops_working(keys):
    from django.core.management import call_command

    call_command("createcrawlerkey", "crawler", "--revoke", stdout=io.StringIO())
    response = check(keys["crawler"], {"model": "dlib", "embedding": embedding(3)})
    assert response.status_code == 401
    assert "not valid or was revoked" in response.json()["detail"]


def test_createcrawlerkey_prints_a_working_key():
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("createcrawlerkey", "edge-crawler", stdout=out, stderr=io.StringIO())
    key = out.getvalue().strip()
    assert re.fullmatch(r"frp_[\w-]{40,}", key)
    assert check(key, {"model": "dlib", "embedding": embedding(4)}).json()["suppressed"] is False


# -- schema and docs ------------------------------------------------------------------


def test_the_schema_describes_every_endpoint_and_the_docs_load_no_inline_code():
    schema = Client().get("/api/schema/?format=json").json()
    paths = set(schema["paths"])
    assert {"/api/v1/requests", "/api/v1/requests/{reference}", "/api/v1/figures",
            "/api/v1/status/{reference}", "/api/v1/suppression/check",
            "/api/v1/requests/{reference}/approve"} <= paths
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    docs = Client().get("/api/docs/").content.decode()
    assert "swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", docs)
    script = Client().get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
