"""After every end state, nothing biometric of the person is left: the
template of their selfie (and, after an erasure, of their faces in the
index), the selfie and the live picture. The sweep looks everywhere such a
thing could hide rather than where the code means to delete it: every
column of every table whose type can hold a vector (vector, halfvec),
structured data (json, jsonb) or bytes (bytea), every file of the media
folders, and the broker's queues."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from search.models import Face
from subjects.core import tokens
from subjects.jobs import retention, selfie_search
from subjects.models import RightsRequest
from subjects.person import filing, intake, selfie
from subjects.review import decisions
from tests.conftest import FACES_DIR
from tests.subjects.scenario import carry_out_in_process, face_in, seed_world

pytestmark = pytest.mark.django_db

SELFIE = "obama_2.jpg"
#: Closer than this to the person's template is the template itself (other
#: photos of the same face lie 0.3 and more away).
SAME = 1e-3


class Person:
    """What is biometric about the person, noted while the request ran."""

    def __init__(self):
        self.templates: list[np.ndarray] = []
        self.files: set[str] = set()
        self.picture = (FACES_DIR / SELFIE).read_bytes()

    def note(self, request: RightsRequest) -> None:
        request.refresh_from_db()
        if request.selfie_embedding is not None:
            self.templates.append(np.asarray(request.selfie_embedding, dtype=np.float32))
        self.files |= {name for name in (request.selfie_pending_file,
                                         request.selfie_review_file) if name}


def searched(person: Person, email: str, *, live: bool = True) -> RightsRequest:
    request = intake.start_request(email=email, language="en")
    request = intake.verify_email(tokens.verification_token(request))
    request = selfie.submit_selfie(request, person.picture, live=live)
    person.note(request)
    selfie_search.run_selfie_search(request.pk, request.selfie_pending_file)
    person.note(request)
    return request


def filed(person: Person, email: str, kinds: list[str]) -> RightsRequest:
    request = searched(person, email)
    assert request.state == "matches_ready", request.state
    answers = {m.pk: "mine" for m in request.matches.filter(tier="match")}
    return filing.file_request(request, kinds=kinds, keep_template="no", decisions=answers)


def later(days: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def completed_access(person):
    return carry_out_in_process(filed(person, "sweep.access@example.org", ["access"]))


def erased(person):
    request = filed(person, "sweep.erasure@example.org", ["erasure"])
    # The person's faces in the index are theirs too: gone after an erasure.
    person.templates += [np.asarray(f.embedding, dtype=np.float32) for f in
                         (face_in("obama_1.jpg"), face_in("obama_4.jpg"))]
    return carry_out_in_process(request)


def rejected(person):
    request = filed(person, "sweep.rejected@example.org", ["access"])
    return decisions.reject_request(request, actor="dpo.test", reason="Not this time.")


def withdrawn(person):
    return filing.withdraw_request(searched(person, "sweep.withdrawn@example.org"))


def expired(person):
    request = searched(person, "sweep.expired@example.org")
    assert retention.expire_request(request, now=later(31))
    return request


def error_abandoned(person):
    # An uploaded selfie whose search failed for good. The error waits on the
    # DPO and never expires (issue 33); the person gives up and withdraws.
    request = searched(person, "sweep.error@example.org", live=False)
    request.refresh_from_db()
    RightsRequest.objects.filter(pk=request.pk).update(state="searching")
    selfie_search.fail_search(request.pk, request.selfie_review_file, ConnectionError("gone"))
    request.refresh_from_db()
    assert request.state == "error"
    assert not retention.expire_request(request, now=later(31))
    return filing.withdraw_request(request)


def answered_with_a_photo(person):
    # The DPO asks for another photo of the face; the person sends one with
    # their answer (kept, re-encoded, for the DPO's comparison); then the
    # request is decided.
    request = filed(person, "sweep.answer@example.org", ["access"])
    request = decisions.ask_for_information(
        request, actor="dpo.test", question="Please send another photo of your face.",
        photo=True)
    request = filing.answer_question(request, text="Here it is.", photo=person.picture)
    request.refresh_from_db()
    assert default_storage.exists(request.answer_photo_file)
    person.files.add(request.answer_photo_file)
    return decisions.reject_request(request, actor="dpo.test", reason="Not this time.")


END_STATES = {"completed": completed_access, "erased": erased, "rejected": rejected,
              "withdrawn": withdrawn, "expired": expired, "error_abandoned": error_abandoned,
              "answered_with_a_photo": answered_with_a_photo}


# Table and column names come from the database's own catalogue (S608 is
# silenced line by line); values are parameters.


def columns(*types: str) -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name, c.column_name, c.udt_name FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_schema = c.table_schema "
            "AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE' "
            "WHERE c.table_schema = current_schema() AND c.udt_name = ANY(%s)", [list(types)])
        return cursor.fetchall()


def vectors_like(template: np.ndarray) -> list[str]:
    found = []
    literal = "[" + ",".join(f"{x:.8f}" for x in template) + "]"
    for table, column, kind in columns("vector", "halfvec"):
        tolerance = SAME if kind == "vector" else 2e-2  # halfvec: 16-bit floats
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{column}" IS NOT NULL AND '  # noqa: S608
                f'CASE WHEN vector_dims("{column}") = %s '
                f'THEN "{column}" <-> %s::{kind} < %s ELSE false END',
                [len(template), literal, tolerance])
            if cursor.fetchone()[0]:
                found.append(f"{table}.{column}")
    return found


def arrays_in(value):
    """Every list of numbers of a JSON value."""
    if isinstance(value, list):
        if len(value) >= 64 and all(isinstance(x, int | float) for x in value):
            yield value
        for item in value:
            yield from arrays_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from arrays_in(item)


def json_like(template: np.ndarray) -> list[str]:
    found = []
    for table, column, _kind in columns("json", "jsonb"):
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')  # noqa: S608
            for (text,) in cursor.fetchall():
                for array in arrays_in(json.loads(text)):
                    if (len(array) == len(template) and
                            np.linalg.norm(np.asarray(array) - template) < SAME):
                        found.append(f"{table}.{column}")
    return found


def bytes_like(needles: list[bytes]) -> list[str]:
    found = []
    for table, column, _kind in columns("bytea"):
        for needle in needles:
            with connection.cursor() as cursor:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE position(%s in "{column}") > 0',  # noqa: S608
                    [needle])
                if cursor.fetchone()[0]:
                    found.append(f"{table}.{column}")
    return found


def media_files() -> dict[Path, int]:
    """Every file of the media folders, with its modification time."""
    return {path: path.stat().st_mtime_ns for path in Path(settings.MEDIA_ROOT).rglob("*")
            if path.is_file()}


def files_like(needles: list[bytes], names: set[str], before: dict[Path, int]) -> list[str]:
    """The person's files still there, and any file this run wrote or changed
    that holds their picture or template. Files an earlier test left (its
    rows rolled back, its files not) are not this person's."""
    found = [name for name in names if default_storage.exists(name)]
    for path, mtime in media_files().items():
        if before.get(path) == mtime:
            continue
        data = path.read_bytes()
        found += [str(path) for needle in needles if needle in data]
    return found


def queued_payloads() -> list[tuple[str, str]]:
    """Every message waiting in the broker's queues, as (queue, text)."""
    from portal.celery import app

    waiting = []
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in settings.CELERY_QUEUES_CONSUMED:
            if hasattr(channel, "message_cls"):
                payloads = [p for (p,) in channel.session.query(channel.message_cls.payload)
                            .join(channel.queue_cls).filter(channel.queue_cls.name == queue)]
                channel.session.rollback()
            elif hasattr(channel, "client") and hasattr(channel.client, "lrange"):
                payloads = channel.client.lrange(queue, 0, -1)
            else:
                payloads = []
            waiting += [(queue, payload.decode() if isinstance(payload, bytes) else str(payload))
                        for payload in payloads]
    return waiting


def queued_like(needles: list[str], before: list[tuple[str, str]]) -> list[str]:
    """Messages this run left waiting in the broker's queues that name the
    person's files or carry their template (the embedded broker's table;
    Redis lists)."""
    earlier = set(before)
    return [queue for queue, text in queued_payloads() if (queue, text) not in earlier
            for needle in needles if needle in text]


@pytest.mark.parametrize("end_state", list(END_STATES))
def test_no_biometric_data_of_the_person_remains_after_the_end_state(end_state):
    files_before, queued_before = media_files(), queued_payloads()
    seed_world(f"-sweep-{end_state}")
    person = Person()
    request = END_STATES[end_state](person)
    request.refresh_from_db()
    assert request.is_final, request.state
    assert person.templates and person.files, "the run kept nothing to look for"

    leftovers = []
    for template in person.templates:
        leftovers += vectors_like(template) + json_like(template)
    binary = [person.picture[:4096]] + [t.astype(np.float32).tobytes()[:256]
                                        for t in person.templates]
    leftovers += bytes_like(binary) + files_like(binary, person.files, files_before)
    leftovers += queued_like([name.rpartition("/")[2] for name in person.files]
                             + [f"{float(t[0]):.6f}" for t in person.templates], queued_before)
    assert leftovers == [], leftovers
    if end_state == "erased":
        assert not Face.objects.filter(photo__file_name__in=["obama_1.jpg", "obama_4.jpg"]
                                       ).exists()
