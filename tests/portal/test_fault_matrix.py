"""The fault matrix: every fault at every step of every job, and the request
ends as it does without the fault, every e-mail arrives, nothing happens twice.

Faults: the database connection dropped (``pg_terminate_backend`` on every
connection but the test's), the worker process killed (SIGKILL to the
worker and its pool, which loses the task it held), the broker (a Redis
server of the test's own) stopped while the step runs and started again.
Steps: the selfie search (``search:embedded``, ``search:done``), the access
package (``access:*``), the erasure (``erasure:*``), the objection (the
erasure job of an objection, ``objection:*``) and the sending of an e-mail
(``email:claimed``: claimed, not yet handed to the server;
``email:accepted``: the server has it, not yet noted as sent). The mail
server's faults (4xx, 5xx, a dropped connection) act where e-mail meets the
server: at each command of the SMTP conversation, and on every message of
whole journeys.

Two people go through the portal at once, each with a world of photos of
their own: Obama files access and erasure (the search, access and erasure
steps, and the e-mail steps on his "request received" and the DPO's "new
request"); Kit Harington objects. For each fault both journeys run once with
the fault injected at every one of their steps in turn, while the sweeps
run every second in beat; each parametrised test then checks its step: the
fault was injected there, the work moved on after it, and both requests
ended exactly as in the run without faults (state, audit trail, jobs and
their results, photos, faces, suppression, and every e-mail delivered, once,
under its own Message-ID; twice only where a worker was killed after the
server had accepted the message, and then with the same Message-ID).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone

from search.models import (
    Customer,
    CustomerSearch,
    CustomerSearchResult,
    Face,
    FileToDelete,
    Photo,
    Suppression,
)
from subjects.core import tokens
from subjects.core.outbox import queue_email
from subjects.jobs.delivery import message_id
from subjects.models import EmailAttempt, OutboundEmail, RightsRequest
from subjects.person import filing, intake, selfie
from subjects.review import decisions
from tests.conftest import FACES_DIR
from tests.fleet import Fleet
from tests.mail import ACCEPT_THEN_DROP, DROP, PERMANENT, TEMPORARY
from tests.subjects.helpers import ingest
from tests.waiting import poll_for, wait_until

pytestmark = [pytest.mark.worker]

FAULTS = ["db_drop", "sigkill", "broker_restart"]
ERASURE_STEPS = ["plan", "photo", "suppress", "verify", "notices", "done"]
STEPS = (
    ["search:embedded", "search:done"]
    + [f"access:{step}" for step in ("plan", "build", "notify", "done")]
    + [f"erasure:{step}" for step in ERASURE_STEPS]
    + [f"objection:{step}" for step in ERASURE_STEPS]
    + ["email:claimed", "email:accepted"]
)
#: The messages the e-mail steps are injected on.
EMAIL_STEP_KINDS = {"email:claimed": "request_received", "email:accepted": "dpo_new_request"}


# -- two people and their worlds ------------------------------------------------------


@dataclass(frozen=True)
class Person:
    name: str
    selfie: str
    photos: tuple[str, ...]
    kinds: tuple[str, ...]
    keep_template: str
    #: Which matrix steps this person's journey carries.
    steps: tuple[str, ...]
    #: Customers whose searches returned faces: (photo, face's left edge near).
    customers: tuple[tuple[tuple[str, int | None], ...], ...]


OBAMA = Person(
    "obama", "obama_2.jpg", ("obama_1.jpg", "obama_4.jpg", "group_obama_biden.jpg", "biden_1.jpg"),
    ("access", "erasure"), "yes",
    tuple(s for s in STEPS if not s.startswith("objection:")),
    ((("obama_1.jpg", None), ("biden_1.jpg", None)), (("group_obama_biden.jpg", 1133),)),
)
KIT = Person(
    "kit", "kit_harington_1.jpg",
    ("kit_harington_2.jpg", "kit_harington_3.jpg", "group_kit_rose.jpg"),
    ("objection",), "yes",
    tuple(s for s in STEPS if s.startswith("objection:")),
    ((("kit_harington_2.jpg", None),), (("group_kit_rose.jpg", 247),)),
)
PEOPLE = (OBAMA, KIT)


@pytest.fixture(scope="module")
def templates(django_db_setup, django_db_blocker) -> dict:
    """Each photo of both worlds, detected once with dlib; every journey gets
    fresh copies of the rows and files (detection is the slow part)."""
    names = [name for person in PEOPLE for name in person.photos]
    found = {}
    with django_db_blocker.unblock():
        ingest(*names, site="template.example")
        for photo in Photo.objects.filter(site="template.example").prefetch_related("faces"):
            with photo.image.open("rb") as handle:
                data = handle.read()
            found[photo.file_name] = {
                "photo": {f: getattr(photo, f) for f in (
                    "scraped_at", "file_name", "width", "height", "sha256")},
                "data": data,
                "faces": [{f: getattr(face, f) for f in (
                    "box_left", "box_top", "box_width", "box_height", "landmarks",
                    "detector_score", "model", "embedding")} for face in photo.faces.all()],
            }
            photo.image.delete(save=False)
            photo.delete()
    assert sorted(found) == sorted(names)
    return found


def plant_world(person: Person, templates: dict, tag: str) -> dict[str, Photo]:
    photos = {}
    for name in person.photos:
        template = templates[name]
        photo = Photo(**template["photo"], site=f"{tag}.example",
                      source_url=f"https://{tag}.example/{name}")
        photo.image.save(name, ContentFile(template["data"]), save=False)
        photo.save()
        Face.objects.bulk_create([Face(photo=photo, **face) for face in template["faces"]])
        photos[name] = photo
    for number, returned in enumerate(person.customers):
        customer = Customer.objects.create(
            name=f"Customer {number} of {tag}", kind="bank", country="NL", account="paid",
            contact_email=f"privacy{number}@{tag}.example")
        search = CustomerSearch.objects.create(
            customer=customer, searched_at=timezone.now() - dt.timedelta(days=3))
        for rank, (name, left) in enumerate(returned, start=1):
            faces = list(photos[name].faces.all())
            face = min(faces, key=lambda f: abs(f.box_left - left)) if left else faces[0]
            CustomerSearchResult.objects.create(search=search, face=face, distance=0.3,
                                                rank=rank)
    return photos


# -- a journey ------------------------------------------------------------------------


@dataclass
class Journey:
    person: Person
    tag: str
    photos: dict[str, Photo] = field(default_factory=dict)
    request: RightsRequest | None = None
    filed: bool = False

    @property
    def reference(self) -> str:
        return self.request.reference

    def begin(self, templates: dict, fleet: Fleet | None) -> None:
        self.photos = plant_world(self.person, templates, self.tag)
        request = intake.start_request(email=f"{self.tag}@example.org", language="en")
        self.request = intake.verify_email(tokens.verification_token(request))
        if fleet is not None:
            for point in self.points():
                fleet.hold(point)
        selfie.submit_selfie(self.request, (FACES_DIR / self.person.selfie).read_bytes(),
                             live=True)

    def points(self) -> dict[str, str]:
        """Hold points (``step:detail``) -> matrix steps."""
        points = {}
        for step in self.person.steps:
            job, _, name = step.partition(":")
            if job == "email":
                points[f"{step}:{EMAIL_STEP_KINDS[step]}:{self.reference}"] = step
            elif job == "objection":
                points[f"erasure:{name}:{self.reference}"] = step
            else:
                points[f"{step}:{self.reference}"] = step
        return points

    def advance(self) -> None:
        """The person files once the matches are shown; the DPO approves."""
        self.request.refresh_from_db()
        if self.request.state == "matches_ready" and not self.filed:
            mine = {m.pk: "mine" for m in self.request.matches.filter(tier="match")}
            request = filing.file_request(self.request, kinds=list(self.person.kinds),
                                          keep_template=self.person.keep_template,
                                          decisions=mine)
            decisions.approve_request(request, actor="dpo.test")
            self.filed = True

    def emails(self):
        return OutboundEmail.objects.filter(reference=self.reference)

    def finished(self) -> bool:
        self.request.refresh_from_db()
        return (self.request.state == "completed"
                and not self.emails().exclude(status="sent").exists()
                and not EmailAttempt.objects.filter(outbound__reference=self.reference,
                                                    outcome="").exists())

    def moved_on(self, step: str) -> bool:
        """Whether the work after ``step`` has happened (the fault is behind)."""
        self.request.refresh_from_db()
        job, _, name = step.partition(":")
        if job == "search":
            if name == "embedded":
                return self.request.state != "searching"
            return self.emails().filter(kind="matches_ready", status="sent").exists()
        if job == "email":
            return self.emails().filter(kind=EMAIL_STEP_KINDS[step], status="sent").exists()
        kind = "access" if job == "access" else "erasure"
        this = self.request.jobs.filter(kind=kind).first()
        if this is None:
            return False
        if name == "done":
            later = self.request.jobs.filter(order__gt=this.order).first()
            return self.request.state == "completed" or bool(later and later.steps_done)
        return any(done.split(":")[0] == name for done in this.steps_done)

    def summary(self, inbox) -> dict:
        """What the person, the DPO, the customers and the database see at the
        end, without ids and times."""
        request = self.request
        request.refresh_from_db()
        photos = {}
        for name, planted in self.photos.items():
            photo = Photo.objects.filter(pk=planted.pk).first()
            if photo is None:
                photos[name] = "deleted" if not Path(planted.image.path).exists() else "row gone"
            else:
                changed = Path(photo.image.path).read_bytes() != planted_bytes(planted)
                photos[name] = (f"{photo.faces.count()} faces"
                                + (", redacted" if changed else ""))
        jobs = {job.kind: {"status": job.status,
                           "steps": [step.split(":")[0] for step in job.steps_done],
                           "result": without_ids_and_times(job.result)}
                for job in request.jobs.all()}
        package = None
        if hasattr(request, "package"):
            with request.package.file.open("rb") as handle:
                names = zipfile.ZipFile(io.BytesIO(handle.read())).namelist()
            package = Counter(name.rsplit(".", 1)[-1] for name in names)
        return {
            "state": request.state,
            "selfie template kept": request.selfie_embedding is not None,
            "audit": Counter(request.events.values_list("action", flat=True)),
            "jobs": jobs,
            "photos": photos,
            "matches": Counter(request.matches.values_list("tier", "decision")),
            "suppressed": list(Suppression.objects.filter(request_reference=self.reference)
                               .values_list("reason", flat=True)),
            "package": package,
            # Per kind, the copies that arrived of each message (by Message-ID).
            "emails": {kind: sorted(inbox.copies(message_id(m)) for m in self.emails()
                                    if m.kind == kind)
                       for kind in sorted(set(self.emails().values_list("kind", flat=True)))},
        }


_planted_bytes: dict[int, bytes] = {}


def planted_bytes(photo: Photo) -> bytes:
    return _planted_bytes[photo.pk]


def without_ids_and_times(value):
    if isinstance(value, dict):
        return {k: without_ids_and_times(v) for k, v in value.items()
                if not k.endswith(("_at", "_ids")) and k != "site"}
    if isinstance(value, list):
        return [without_ids_and_times(v) for v in value]
    return value


# -- the faults -----------------------------------------------------------------------


def drop_database_connections(fleet: Fleet, marker: Path, pid: int, journey, step) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        dropped = cursor.fetchone()[0]
    fleet.release(marker)
    return {"connections dropped": dropped}


def kill_worker(fleet: Fleet, marker: Path, pid: int, journey, step) -> dict:
    group = fleet.kill_worker_of(pid)
    fleet.release(marker)
    return {"worker killed": group}


def restart_broker(fleet: Fleet, marker: Path, pid: int, journey, step) -> dict:
    """The broker is stopped while the held step goes on (what it queues on
    commit cannot be sent), and started again once the work moved on, or
    after a few seconds if it needs the broker to."""
    fleet.redis.stop()
    fleet.release(marker)
    down = time.monotonic()
    poll_for(lambda: journey.moved_on(step), at_most=4)
    fleet.redis.start()
    return {"broker down for s": round(time.monotonic() - down, 1)}


INJECT = {"db_drop": drop_database_connections, "sigkill": kill_worker,
          "broker_restart": restart_broker}


def run_journeys(fleet: Fleet, templates: dict, inbox, fault: str | None, *,
                 label: str = "", timeout: float = 420) -> dict:
    """Both journeys at once; with ``fault``, injected at each of their steps
    as a worker reaches it. Returns what was injected where, how long the
    work took to move on, and each journey's summary."""
    fleet.clear_holds()
    label = label or fault or "calm"
    journeys = [Journey(person, f"{person.name}-{label}") for person in PEOPLE]
    for journey in journeys:
        journey.begin(templates, fleet if fault else None)
        for photo in journey.photos.values():
            _planted_bytes[photo.pk] = Path(photo.image.path).read_bytes()
    points = {point: (journey, step) for journey in journeys
              for point, step in journey.points().items()}
    injected: dict[str, dict] = {}
    recovering: dict[str, tuple] = {}
    began = time.monotonic()

    def one_round() -> bool:
        """Move both journeys on, inject the fault where a worker is held;
        true once both are done."""
        for journey in journeys:
            journey.advance()
        if fault:
            for marker, pid, point in fleet.held():
                journey, step = points[point]
                started = time.monotonic()
                injected[step] = INJECT[fault](fleet, marker, pid, journey, step)
                recovering[step] = (journey, started)
        for step, (journey, started) in list(recovering.items()):
            if journey.moved_on(step):
                injected[step]["moved on after s"] = round(time.monotonic() - started, 1)
                del recovering[step]
        return (not recovering and not (fault and fleet.pending_holds())
                and all(journey.finished() for journey in journeys))

    def stuck() -> str:
        states = {j.person.name: (j.request.state, list(j.emails().values_list(
            "kind", "status"))) for j in journeys}
        return (f"the {label} run finishing ({states}; holds left {fleet.pending_holds()}; "
                f"recovering {list(recovering)})\n{fleet.log_tails()}\n")

    wait_until(one_round, timeout=timeout, what=stuck)
    assert FileToDelete.objects.count() == 0
    attempts = {
        step: list(EmailAttempt.objects.filter(
            outbound__reference=journeys[0].reference, outbound__kind=kind)
            .order_by("number").values_list("outcome", flat=True))
        for step, kind in EMAIL_STEP_KINDS.items()
    }
    # What was injected where and how long the work took to move on, for
    # whoever wants to look (ignored by git).
    report = settings.BASE_DIR / "build" / "fault-matrix" / f"{label}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"seconds": round(time.monotonic() - began, 1),
                                  "injected": injected}, indent=2))
    return {"injected": injected, "attempts": attempts,
            "references": [j.reference for j in journeys],
            "summary": {j.person.name: j.summary(inbox) for j in journeys}}


# -- the fleet, and the runs shared by the tests ----------------------------------------


@pytest.fixture(scope="module")
def fleet_db(django_db_setup, django_db_blocker):
    """The database of the fleet's tests, committed as the workers see it,
    and emptied once, after the fleet has stopped; not after each test as
    ``transactional_db`` does, since its flush (a TRUNCATE of every table)
    can deadlock with beat's sweeps, which run every second here."""
    from django.core.management import call_command

    with django_db_blocker.unblock():
        yield
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def fleet(fleet_db, smtp_server, tmp_path_factory):
    fleet = Fleet(tmp_path_factory.mktemp("fleet"), {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": smtp_server.hostname, "EMAIL_PORT": str(smtp_server.port),
    })
    with fleet.running():
        yield fleet


_runs: dict[str | None, dict | str] = {}


def run_once(fault: str | None, fleet, templates, inbox) -> dict:
    """Each run happens once, in the first test that needs it; the tests of
    its steps read its record."""
    if fault not in _runs:
        _runs[fault] = f"the {fault or 'calm'} run stopped"
        _runs[fault] = run_journeys(fleet, templates, inbox, fault)
    if isinstance(_runs[fault], str):
        pytest.fail(_runs[fault])
    return _runs[fault]


def test_without_faults_both_requests_complete_and_every_email_arrives_once(
    fleet_db, fleet, templates, inbox
):
    calm = run_once(None, fleet, templates, inbox)["summary"]
    obama, kit = calm["obama"], calm["kit"]
    assert obama["state"] == kit["state"] == "completed"
    assert obama["jobs"]["erasure"]["result"]["faces_erased"] == 3
    assert obama["photos"] == {"obama_1.jpg": "deleted", "obama_4.jpg": "deleted",
                               "group_obama_biden.jpg": "2 faces, redacted",
                               "biden_1.jpg": "1 faces"}
    assert kit["photos"] == {"kit_harington_2.jpg": "deleted", "kit_harington_3.jpg": "deleted",
                             "group_kit_rose.jpg": "1 faces, redacted"}
    assert obama["suppressed"] == ["erasure"] and kit["suppressed"] == ["objection"]
    assert obama["package"]["json"] == 1 and obama["package"]["html"] == 1
    for person in (obama, kit):
        assert person["emails"]["art19_notice"] == [1, 1]
        assert all(copies == [1] * len(copies) for copies in person["emails"].values())
    assert set(obama["emails"]) >= {"verify_email", "matches_ready", "request_received",
                                    "dpo_new_request", "access_ready", "erasure_done"}
    assert "objection_done" in kit["emails"]


def expected_under(fault: str, calm: dict) -> dict:
    """The calm run's summaries, with the one repeat at-least-once allows:
    a worker killed after the server accepted a message sends it again."""
    expected = {name: {**summary, "emails": dict(summary["emails"])}
                for name, summary in calm.items()}
    if fault == "sigkill":
        expected["obama"]["emails"][EMAIL_STEP_KINDS["email:accepted"]] = [2]
    return expected


#: How each fault leaves the attempts of the message it hit at an e-mail step.
ATTEMPTS = {
    # Sending needs no database; noting it as sent opens a new connection.
    ("db_drop", "email:claimed"): ["sent"],
    ("db_drop", "email:accepted"): ["sent"],
    ("sigkill", "email:claimed"): ["interrupted", "sent"],
    ("sigkill", "email:accepted"): ["interrupted", "sent"],
    ("broker_restart", "email:claimed"): ["sent"],
    ("broker_restart", "email:accepted"): ["sent"],
}


@pytest.mark.parametrize("fault,step", [(f, s) for f in FAULTS for s in STEPS],
                         ids=[f"{f}-{s}" for f in FAULTS for s in STEPS])
def test_a_fault_at_a_step_ends_like_the_calm_run_and_every_email_arrives(
    fault, step, fleet_db, fleet, templates, inbox
):
    calm = run_once(None, fleet, templates, inbox)
    run = run_once(fault, fleet, templates, inbox)
    record = run["injected"].get(step)
    assert record is not None, f"{fault} was never injected at {step}"
    assert "moved on after s" in record, f"the work did not move on after {fault} at {step}"
    if step in EMAIL_STEP_KINDS:
        assert run["attempts"][step] == ATTEMPTS[fault, step]
    assert_same(run["summary"], expected_under(fault, calm["summary"]))


def differences(actual, expected, path: str = "") -> list[str]:
    if isinstance(actual, dict) and isinstance(expected, dict):
        return [line for key in sorted(set(actual) | set(expected), key=str)
                for line in differences(actual.get(key), expected.get(key), f"{path}.{key}")]
    return [] if actual == expected else [f"{path}: {actual!r}, expected {expected!r}"]


def assert_same(actual: dict, expected: dict) -> None:
    found = differences(actual, expected)
    assert not found, "the run ended otherwise than the calm run:\n" + "\n".join(found)


# -- the mail server's faults, at each command -------------------------------------------


SMTP_FAULTS = {"smtp_4xx": TEMPORARY, "smtp_5xx": PERMANENT, "smtp_drop": DROP}
SMTP_CASES = [(fault, stage) for fault in SMTP_FAULTS for stage in ("MAIL", "RCPT", "DATA")]
SMTP_CASES.append(("smtp_drop", "after DATA"))


def queue_one(kind: str, tag: str) -> OutboundEmail:
    request = RightsRequest.objects.create(email=f"{tag}@example.org", state="expired")
    with transaction.atomic():
        outbound = queue_email(request, kind, event_key=f"{kind}:{request.reference}")
    return outbound


@pytest.mark.parametrize("fault,stage", SMTP_CASES,
                         ids=[f"{f}-{s.replace(' ', '_')}" for f, s in SMTP_CASES])
def test_a_mail_server_fault_at_a_command_is_retried_and_the_message_arrives(
    fault, stage, fleet_db, fleet, inbox
):
    if stage == "after DATA":
        inbox.fail_next("DATA", ACCEPT_THEN_DROP)
    else:
        inbox.fail_next(stage, SMTP_FAULTS[fault])
    outbound = queue_one("request_expired", f"{fault}-{stage.replace(' ', '-')}".lower())
    wait_until(lambda: OutboundEmail.objects.filter(pk=outbound.pk, status="sent").exists(),
               timeout=60, what=f"delivery after {fault} at {stage}")
    attempts = list(outbound.attempt_log.values_list("outcome", "error"))
    code = SMTP_FAULTS[fault][:3]
    if fault == "smtp_drop":
        assert attempts == [("failed", "SMTPServerDisconnected"), ("sent", "")]
    else:
        assert attempts[0][0] == "refused" and attempts[0][1].endswith(code), attempts
        assert attempts[1:] == [("sent", "")]
    # Once, or (the server had it when the connection dropped) twice, the
    # same message both times.
    arrived = [m for m in inbox.messages if m["Message-ID"] == message_id(outbound)]
    assert len(arrived) == (2 if stage == "after DATA" else 1)
    assert {m["Subject"] for m in arrived} == {arrived[0]["Subject"]}


@pytest.mark.parametrize("fault", list(SMTP_FAULTS))
def test_a_mail_server_failing_every_first_attempt_delays_the_journeys_but_loses_nothing(
    fault, fleet_db, fleet, templates, inbox
):
    calm = run_once(None, fleet, templates, inbox)
    inbox.fail_first_attempt = SMTP_FAULTS[fault]
    try:
        run = run_journeys(fleet, templates, inbox, None, label=fault)
    finally:
        inbox.fail_first_attempt = ""
    assert_same(run["summary"], calm["summary"])
    # Every message of both journeys was refused (or cut off) once, then sent.
    for outbound in OutboundEmail.objects.filter(reference__in=run["references"]):
        outcomes = list(outbound.attempt_log.values_list("outcome", flat=True))
        assert outcomes == ["failed" if fault == "smtp_drop" else "refused", "sent"], outbound


# -- at least once: lost tasks and expired leases ----------------------------------------


def test_a_message_whose_task_was_lost_is_found_and_sent_by_the_sweep(
    fleet_db, fleet, inbox
):
    request = RightsRequest.objects.create(email="lost.task@example.org", state="expired")
    # Committed without its task, as when the worker holding it died or the
    # broker lost it.
    outbound = OutboundEmail.objects.create(
        request=request, reference=request.reference, kind="request_expired",
        event_key=f"lost:{request.reference}", recipient=request.email, language="en")
    started = time.monotonic()
    wait_until(lambda: inbox.copies(message_id(outbound)) == 1, timeout=30,
               what="the sweep sending a message whose task was lost")
    # Due at once, queued again after two sweeps (1 s each here), by the next.
    assert time.monotonic() - started < 3 + 10  # the bound, and slack for a loaded machine
    # The server has it; the worker notes it as sent just after.
    wait_until(lambda: OutboundEmail.objects.filter(pk=outbound.pk, status="sent").exists(),
               timeout=30, what="the message noted as sent")
    outbound.refresh_from_db()
    assert outbound.attempts == 1


def test_a_message_stuck_in_sending_past_its_lease_is_sent_again_with_the_same_message_id(
    fleet_db, fleet, inbox
):
    fleet.clear_holds()
    request = RightsRequest.objects.create(email="stuck.sending@example.org", state="expired")
    fleet.hold(f"email:accepted:request_expired:{request.reference}")
    with transaction.atomic():
        outbound = queue_email(request, "request_expired",
                               event_key=f"request_expired:{request.reference}")
    # The server has the message; the worker dies before noting it as sent.
    [(marker, pid, _)] = wait_until(fleet.held, timeout=60, what="the worker reaching the hold")
    assert inbox.copies(message_id(outbound)) == 1
    assert OutboundEmail.objects.get(pk=outbound.pk).status == "sending"
    fleet.kill_worker_of(pid)
    fleet.release(marker)
    # Past its lease (10 s here), the sweep takes it back and sends it again.
    wait_until(lambda: inbox.copies(message_id(outbound)) == 2, timeout=60,
               what="the message sent again after its lease")
    first, second = [m for m in inbox.messages if m["Message-ID"] == message_id(outbound)]
    assert first["Message-ID"] == second["Message-ID"] == message_id(outbound)
    assert first["Subject"] == second["Subject"]
    wait_until(lambda: OutboundEmail.objects.filter(pk=outbound.pk, status="sent").exists(),
               timeout=30, what="the second attempt noted as sent")
    assert list(outbound.attempt_log.values_list("number", "outcome")) == [
        (1, "interrupted"), (2, "sent")]
