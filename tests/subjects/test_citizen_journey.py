"""The whole citizen journey through the real database, worker and SMTP."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from search.models import Face
from subjects.models import Match, RightsRequest
from tests.mail import html_part, text_part
from tests.subjects.helpers import (
    ingest,
    links_in,
    live_capture,
    path_of,
    upload,
    wait_for_state,
)

pytestmark = [pytest.mark.worker]

ALICE = "alice.example@example.org"


def test_a_selfie_finds_its_person_only_and_filing_restricts_and_sends_a_receipt(
    transactional_db, celery_worker, inbox, client
):
    # The person in front of the camera (the performer of the sample video)
    # is in one scraped photo, among other people's.
    ingest("lin_manuel_miranda_1.png", "obama_1.jpg", "obama_4.jpg", "group_obama_biden.jpg",
           "biden_1.jpg", "kit_harington_1.jpg")
    expected = set(Face.objects.filter(photo__file_name="lin_manuel_miranda_1.png")
                   .values_list("pk", flat=True))
    assert len(expected) == 1

    # Step 1: address and consent; the link arrives by e-mail.
    response = client.post("/start/", {"email": ALICE, "language": "en", "consent": "on"})
    assert response.status_code == 302
    [mail] = inbox.wait_for(ALICE, subject_contains="Confirm your e-mail address")
    [verify_link] = [u for u in links_in(text_part(mail)) if "/verify/" in u]
    assert verify_link in html_part(mail)

    # Step 2: the link asks for a press of its button, then opens the selfie
    # page in this browser; the camera check, filmed of one person turning.
    assert "Confirm my e-mail address" in client.get(path_of(verify_link)).content.decode()
    response = client.post(path_of(verify_link))
    assert response.status_code == 302
    token = response["Location"].split("/r/")[1].split("/")[0]
    selfie_page = f"/r/{token}/selfie/"
    assert client.get(selfie_page).status_code == 200
    selfies = Path(settings.MEDIA_ROOT) / "selfies"
    before = set(selfies.iterdir()) if selfies.exists() else set()
    response = live_capture(client, token)
    assert response.status_code == 200 and response.json()["done"], response.content
    request = RightsRequest.objects.get(email=ALICE)

    # Step 3: the worker embeds and searches; one camera picture is kept,
    # privately, for the DPO.
    wait_for_state(request, "matches_ready")
    assert set(selfies.iterdir()) - before == {Path(settings.MEDIA_ROOT) /
                                              request.selfie_review_file}
    assert request.selfie_embedding is not None
    found = set(request.matches.values_list("face_id", flat=True))
    assert found == expected, "the matches must be this person's faces and nobody else's"

    matches_page = selfie_page.replace("/selfie/", "/matches/")
    page = client.get(matches_page).content.decode()
    assert "This is me" in page and "Not me" in page
    assert "crawl.example" not in page, "no source URL before an access request"
    crop_urls = [m.pk for m in request.matches.all()]
    for match_id in crop_urls:
        crop = client.get(matches_page.replace("/matches/", f"/faces/{match_id}.jpg"))
        assert crop.status_code == 200 and crop["Content-Type"] == "image/jpeg"
        with Image.open(io.BytesIO(crop.content)) as image:
            assert image.size == (160, 160)

    # Step 4: confirm and file access and erasure.
    decisions = {f"decision_{m.pk}": "mine" for m in request.matches.all()}
    response = client.post(matches_page.replace("/matches/", "/file/"),
                           {**decisions, "kinds": ["access", "erasure"], "keep_template": "auto"})
    # An erasure is shown back first, with the faces it erases.
    assert response.status_code == 200 and "This face will be erased" in response.content.decode()
    response = client.post(matches_page.replace("/matches/", "/file/"),
                           {**decisions, "kinds": ["access", "erasure"], "keep_template": "auto",
                            "checked": "yes"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "awaiting_review"
    assert request.access and request.erasure and not request.objection
    assert request.received_at is not None
    assert set(Face.objects.filter(restricted=True).values_list("pk", flat=True)) == expected
    assert request.matches.filter(decision=Match.Decision.MINE).count() == 1

    [receipt] = inbox.wait_for(ALICE, subject_contains="We have received your request")
    body = text_part(receipt)
    assert request.reference in body
    assert request.due_date.strftime("%Y") in body
    status_link = [u for u in links_in(body) if "/status/" in u][0]
    status_page = client.get(path_of(status_link)).content.decode()
    assert request.reference in status_page
    assert "Withdraw my request" in status_page


def test_an_uploaded_selfie_reveals_nothing_about_matches_until_the_dpo_confirms_the_requester(
    transactional_db, celery_worker, inbox, client, settings
):
    from subjects.core import tokens
    from subjects.review import decisions

    ingest("obama_1.jpg", "obama_4.jpg", "biden_1.jpg")
    address = "upload.only@example.org"
    client.post("/start/", {"email": address, "language": "en", "consent": "on"})
    [mail] = inbox.wait_for(address)
    home = client.post(path_of([u for u in links_in(text_part(mail))
                                if "/verify/" in u][0]))["Location"]
    selfie_page = home + "selfie/"
    response = client.post(selfie_page, {"photo": upload("obama_2.jpg")})
    assert response.status_code == 302
    request = wait_for_state(RightsRequest.objects.get(email=address), "identity_review")
    assert request.matches.count() == 2  # found, and kept from the person for now
    token = tokens.access_token(request)

    page = client.get(f"/r/{token}/matches/").content.decode()
    assert "We are checking that the photo is yours" in page
    assert "This is me" not in page and "/faces/" not in page
    for match in request.matches.all():
        assert client.get(f"/r/{token}/faces/{match.pk}.jpg").status_code == 404
    progress = client.get(f"/r/{token}/progress.json").json()
    assert set(progress) == {"state", "next"}
    # The status page stays open while the DPO checks, and says so, with
    # nothing of the matches.
    status = client.get(f"/r/{token}/status/")
    assert status.status_code == 200, status.status_code
    status_page = status.content.decode()
    assert "Our Data Protection Officer checks that the photo is yours" in status_page
    assert "/faces/" not in status_page and "Faces you confirmed" not in status_page
    # No e-mail speaks of matches; the DPO is asked to check.
    assert not inbox.to(address)[1:], [m["Subject"] for m in inbox.to(address)]
    inbox.wait_for(settings.DPO_EMAIL, subject_contains=f"Check the requester of "
                                                        f"{request.reference}")
    review_file = request.selfie_review_file
    assert review_file and Path(settings.MEDIA_ROOT, review_file).exists()

    decisions.confirm_requester(request, actor="dpo.test")
    request.refresh_from_db()
    assert request.state == "matches_ready" and request.selfie_review_file == ""
    assert not Path(settings.MEDIA_ROOT, review_file).exists(), "the upload is deleted"
    page = client.get(f"/r/{token}/matches/").content.decode()
    assert "This is me" in page
    match = request.matches.first()
    assert client.get(f"/r/{token}/faces/{match.pk}.jpg").status_code == 200
    inbox.wait_for(address, subject_contains="The search for your face is done")
