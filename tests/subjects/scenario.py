"""A small scraped world: Obama alone in two photos, with Biden and a
stranger in a group photo, Biden alone in another; two customers whose
searches returned some of those faces. And a person (the selfie is another
photo of Obama) who files a request through the real worker."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from search.models import Customer, CustomerSearch, CustomerSearchResult, Face, Photo
from subjects.core import tokens
from subjects.jobs import runner, selfie_search
from subjects.models import RightsRequest
from subjects.person import filing, intake, selfie
from subjects.review import decisions
from tests.conftest import FACES_DIR
from tests.subjects.helpers import ingest, wait_for_state

PHOTOS = ["obama_1.jpg", "obama_4.jpg", "group_obama_biden.jpg", "biden_1.jpg"]


def face_in(file_name: str, left_near: int | None = None) -> Face:
    faces = list(Face.objects.filter(photo__file_name=file_name))
    if left_near is None:
        [face] = faces
        return face
    return min(faces, key=lambda f: abs(f.box_left - left_near))


def seed_world(tag: str = "") -> dict:
    """``tag`` makes the customers' addresses unique to one test, since the
    SMTP server's inbox lives for the whole session."""
    ingest(*PHOTOS)
    world = {
        "obama_solo": [face_in("obama_1.jpg"), face_in("obama_4.jpg")],
        "obama_group": face_in("group_obama_biden.jpg", 1133),
        "biden_group": face_in("group_obama_biden.jpg", 737),
        "stranger_group": face_in("group_obama_biden.jpg", 1594),
        "biden_solo": face_in("biden_1.jpg"),
    }
    police = Customer.objects.create(name="Polizei Test", kind="law_enforcement", country="DE",
                                     account="trial", trial_start=dt.date(2026, 1, 1),
                                     trial_end=dt.date(2026, 1, 31),
                                     contact_email=f"privacy{tag}@polizei.example")
    bank = Customer.objects.create(name="Test Bank", kind="bank", country="NL", account="paid",
                                   contact_email=f"dpo{tag}@bank.example")
    now = timezone.now()
    for customer, faces in ((police, [world["obama_solo"][0], world["biden_solo"]]),
                            (bank, [world["obama_group"]])):
        search = CustomerSearch.objects.create(customer=customer,
                                               searched_at=now - dt.timedelta(days=3))
        for rank, face in enumerate(faces, start=1):
            CustomerSearchResult.objects.create(search=search, face=face, distance=0.3,
                                                rank=rank)
    world["customers"] = (police, bank)
    world["files"] = {p.file_name: p.image.path for p in Photo.objects.all()}
    return world


def file_via_worker(email: str, *, kinds: list[str], keep_template: str = "auto",
                    selfie_file: str = "obama_2.jpg", in_process: bool = False) -> RightsRequest:
    """The person's journey up to filing, with every match of the ``match``
    tier confirmed. ``in_process``: the search task's function runs here
    instead of on the worker (for tests inside one transaction)."""
    request = intake.start_request(email=email, language="en")
    request = intake.verify_email(tokens.verification_token(request))
    # A selfie from a passed camera check (its own tests are in test_liveness).
    request = selfie.submit_selfie(request, (FACES_DIR / selfie_file).read_bytes(), live=True)
    if in_process:
        selfie_search.run_selfie_search(request.pk, request.selfie_pending_file)
        request.refresh_from_db()
    request = wait_for_state(request, "matches_ready")
    decisions = {m.pk: "mine" for m in request.matches.filter(tier="match")}
    return filing.file_request(request, kinds=kinds, keep_template=keep_template,
                               decisions=decisions)


def carry_out_in_process(request: RightsRequest) -> RightsRequest:
    """Approve and run the request's jobs here, as the worker's task would."""
    request = decisions.approve_request(request, actor="dpo.test")
    runner.run_request_jobs(request.pk, owner="test")
    request.refresh_from_db()
    return request
