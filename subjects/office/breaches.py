"""The breach register and its steps: recording a breach, the 72-hour
clock's alerts, the notification to the supervisory authority (Art. 33) and
the decision on telling the people affected (Art. 34). Each step is written
in one transaction with its audit event (``subjects.core.audit``), keyed by
the breach's reference. The DPO's free texts may name people and no
retention reaches events that belong to no request, so the trail keeps only
their SHA-256 (evidence of what was written, and when), never the texts:
those stay in the register."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from subjects.core.audit import SYSTEM, reason_digest, record_event
from subjects.core.outbox import queue_email
from subjects.models import AuditEvent, RightsRequest
from subjects.office.categories import data_label, people_label
from subjects.office.models import ALERT_HOURS, NOTIFICATION_HOURS, Breach, BreachAlert

_REFERENCE_LOCK_KEY = 0x42524541  # "BREA": one new reference at a time


class BreachAction(models.TextChoices):
    """The register's steps as the audit trail names them."""

    RECORDED = "breach_recorded", _("Breach recorded")
    CLOCK_ALERT = "breach_clock_alert", _("72-hour clock: alert to the DPO")
    AUTHORITY_NOTIFIED = "breach_authority_notified", _(
        "Notification to the supervisory authority recorded (Art. 33)")
    COMMUNICATION_DECIDED = "breach_communication_decided", _(
        "Decision on telling the people affected (Art. 34)")
    UPDATED = "breach_updated", _("Breach record completed or corrected (Art. 33(4))")


class StepRefused(Exception):
    """A register step that cannot be taken; ``message`` says why, to the DPO."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def _iso(value: dt.datetime | None) -> str | None:
    """In UTC, so a document reads the same whichever way the time came in."""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds") if value else None


def _new_reference(aware_at: dt.datetime) -> str:
    year = timezone.localtime(aware_at).year
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_REFERENCE_LOCK_KEY])
    taken = Breach.objects.filter(reference__startswith=f"BR-{year}-").count()
    return f"BR-{year}-{taken + 1:04d}"


@transaction.atomic
def record_breach(*, actor: str, summary: str, aware_at: dt.datetime,
                  occurred_at: dt.datetime | None, data_categories: list[str],
                  people_categories: list[str], approx_people: int, approx_records: int,
                  consequences: str, measures_taken: str, measures_proposed: str,
                  decided_by: str) -> Breach:
    """Add a breach to the register; its clock runs from ``aware_at``."""
    if aware_at > timezone.now():
        raise StepRefused(_("The time you became aware of the breach cannot be in the future."))
    if occurred_at is not None and occurred_at > aware_at:
        raise StepRefused(_("A breach cannot have happened after you became aware of it."))
    breach = Breach.objects.create(
        reference=_new_reference(aware_at), summary=summary, aware_at=aware_at,
        occurred_at=occurred_at, recorded_by=actor, data_categories=list(data_categories),
        people_categories=list(people_categories), approx_people=approx_people,
        approx_records=approx_records, consequences=consequences,
        measures_taken=measures_taken, measures_proposed=measures_proposed,
        decided_by=decided_by)
    record_event(None, reference=breach.reference, actor=actor, action=BreachAction.RECORDED,
                 details={
                     "summary_sha256": reason_digest(summary),
                     "aware_at": _iso(aware_at), "occurred_at": _iso(occurred_at),
                     "data_categories": breach.data_categories,
                     "people_categories": breach.people_categories,
                     "approx_people": approx_people, "approx_records": approx_records,
                     "deadline": _iso(breach.deadline)})
    return breach


#: What the DPO may complete or correct as more is known (Art. 33(4)).
EDITABLE = ("summary", "occurred_at", "aware_at", "data_categories", "people_categories",
            "approx_people", "approx_records", "consequences", "measures_taken",
            "measures_proposed", "decided_by")
#: Fields whose values are codes, dates or numbers: the audit event names
#: their old and new values; of free texts it names only that they changed.
_PLAIN = {"occurred_at", "aware_at", "data_categories", "people_categories", "approx_people",
          "approx_records"}


@transaction.atomic
def update_breach(breach: Breach, *, actor: str, **fields) -> Breach:
    """Complete or correct the record (Art. 33(4): information may be given
    in phases). The clock follows a corrected awareness time; alerts already
    sent stay. Returns the breach; nothing changed writes no event."""
    breach = Breach.objects.select_for_update().get(pk=breach.pk)
    aware_at = fields.get("aware_at", breach.aware_at)
    occurred_at = fields.get("occurred_at", breach.occurred_at)
    if aware_at > timezone.now():
        raise StepRefused(_("The time you became aware of the breach cannot be in the future."))
    if occurred_at is not None and occurred_at > aware_at:
        raise StepRefused(_("A breach cannot have happened after you became aware of it."))
    def same(old, new) -> bool:
        # The form gives times to the minute: a time it shows back unchanged
        # is the stored one, seconds and all.
        if isinstance(old, dt.datetime) and isinstance(new, dt.datetime):
            return old.replace(second=0, microsecond=0) == new
        return old == new

    changed = {name: value for name, value in fields.items()
               if name in EDITABLE and not same(getattr(breach, name), value)}
    if not changed:
        return breach
    before = {name: getattr(breach, name) for name in changed}
    for name, value in changed.items():
        setattr(breach, name, value)
    breach.save(update_fields=list(changed))

    def plain(value):
        return _iso(value) if isinstance(value, dt.datetime) else value

    record_event(None, reference=breach.reference, actor=actor, action=BreachAction.UPDATED,
                 details={"changed": sorted(changed),
                          "values": {name: {"from": plain(before[name]),
                                            "to": plain(changed[name])}
                                     for name in sorted(changed) if name in _PLAIN}})
    return breach


# -- the 72-hour clock ---------------------------------------------------------------


def send_clock_alerts(*, now: dt.datetime | None = None) -> list[tuple[str, int]]:
    """Alert the DPO of every breach whose clock passed an hour mark (24, 48,
    68) without a notification to the authority. One alert per mark and
    breach, however often this runs; a breach recorded late gets the last
    mark it passed only (the earlier ones are noted as covered by it).
    Returns (reference, hour) of the alerts sent now."""
    now = now or timezone.now()
    sent = []
    first_mark = dt.timedelta(hours=min(ALERT_HOURS))
    for breach in Breach.objects.filter(authority_notified_at__isnull=True,
                                        aware_at__lte=now - first_mark):
        passed = [hour for hour in ALERT_HOURS if breach.hours_since_awareness(now) >= hour]
        with transaction.atomic():
            done = set(BreachAlert.objects.select_for_update()
                       .filter(breach=breach).values_list("hour", flat=True))
            waiting = [hour for hour in passed if hour not in done]
            if not waiting:
                continue
            hour = waiting[-1]
            BreachAlert.objects.bulk_create([BreachAlert(breach=breach, hour=h, at=now)
                                             for h in waiting])
            left = max(0, round(breach.hours_left(now)))
            queue_email(None, "dpo_breach_clock",
                        event_key=f"breach-clock:{breach.reference}:{hour}",
                        context={"breach": breach.reference, "hour": hour, "hours_left": left,
                                 "deadline": timezone.localtime(breach.deadline)
                                 .strftime("%Y-%m-%d %H:%M %Z"),
                                 "breach_url": f"/dpo/office/breaches/{breach.reference}/"})
            record_event(None, reference=breach.reference, actor=SYSTEM,
                         action=BreachAction.CLOCK_ALERT,
                         details={"hour": hour, "covers": waiting[:-1], "hours_left": left})
            sent.append((breach.reference, hour))
    return sent


def open_clocks(*, now: dt.datetime | None = None) -> list[dict]:
    """Breaches whose authority notification is still to be made, most
    urgent first, with the hours left (negative once past 72)."""
    now = now or timezone.now()
    return [{"breach": b, "hours_left": int(b.hours_left(now) // 1),
             "hours_since": int(b.hours_since_awareness(now) // 1), "late": b.is_late(now)}
            for b in Breach.objects.filter(authority_notified_at__isnull=True).order_by("aware_at")]


# -- Art. 33: the notification to the supervisory authority -------------------------------


def authority_notification(breach: Breach, *, at: dt.datetime | None = None) -> dict:
    """The notification drafted from the record, with the items of
    Art. 33(3) and the timeliness of Art. 33(1). ``missing`` names what the
    DPO still has to give before it can be sent (the reasons for a delay
    past 72 hours)."""
    at = breach.authority_notified_at or at or timezone.now()
    late = breach.is_late(at)
    missing = ["delay_reason"] if late and not breach.delay_reason.strip() else []
    return {
        "breach": breach.reference,
        "controller": {"name": settings.CONTROLLER_NAME, "address": settings.CONTROLLER_ADDRESS,
                       "representative": settings.CONTROLLER_REPRESENTATIVE or None},
        "supervisory_authority": settings.SUPERVISORY_AUTHORITY_NAME,
        # Art. 33(3)(a)
        "nature": {
            "description": breach.summary,
            "occurred_at": _iso(breach.occurred_at),
            "aware_at": _iso(breach.aware_at),
            "data_categories": [{"code": c, "label": data_label(c)}
                                for c in breach.data_categories],
            "people_categories": [{"code": c, "label": people_label(c)}
                                  for c in breach.people_categories],
            "approx_people": breach.approx_people,
            "approx_records": breach.approx_records,
        },
        # Art. 33(3)(b)
        "contact_point": {"role": "Data Protection Officer", "email": settings.DPO_EMAIL},
        # Art. 33(3)(c)
        "likely_consequences": breach.consequences,
        # Art. 33(3)(d)
        "measures": {"taken": breach.measures_taken, "proposed": breach.measures_proposed},
        "communication_to_people": {"decision": breach.communication,
                                    "reasons": breach.communication_reasons or None},
        # Art. 33(1): within 72 hours of awareness, or with the reasons for the delay.
        "timeliness": {
            "deadline": _iso(breach.deadline),
            "notified_at": _iso(at),
            "hours_after_awareness": round(breach.hours_since_awareness(at), 1),
            "within_72_hours": not late,
            "delay_reason": breach.delay_reason or None,
        },
        "decided_by": breach.decided_by,
        "missing": missing,
        "complete": not missing,
    }


def notification_digest(document: dict) -> str:
    payload = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@transaction.atomic
def record_authority_notification(breach: Breach, *, actor: str, sent_at: dt.datetime,
                                  authority_case: str = "", delay_reason: str = "") -> Breach:
    """Note that the notification went to the authority; its clock stops.
    After 72 hours it needs the reasons for the delay (Art. 33(1))."""
    breach = Breach.objects.select_for_update().get(pk=breach.pk)
    if breach.authority_notified_at is not None:
        raise StepRefused(_("The notification of this breach was recorded already."))
    if sent_at > timezone.now():
        raise StepRefused(_("The notification cannot have been sent in the future."))
    if sent_at < breach.aware_at:
        raise StepRefused(_("The notification cannot have been sent before you became aware "
                            "of the breach."))
    delay_reason = delay_reason.strip()
    if breach.is_late(sent_at) and not delay_reason:
        raise StepRefused(_("This notification comes more than %(hours)d hours after you became "
                            "aware of the breach: Art. 33(1) requires the reasons for the "
                            "delay.") % {"hours": NOTIFICATION_HOURS})
    breach.delay_reason = delay_reason
    breach.authority_case = authority_case.strip()
    breach.authority_notified_at = sent_at
    breach.authority_notified_by = actor
    breach.save(update_fields=["delay_reason", "authority_case", "authority_notified_at",
                               "authority_notified_by"])
    document = authority_notification(breach)
    record_event(None, reference=breach.reference, actor=actor,
                 action=BreachAction.AUTHORITY_NOTIFIED, details={
                     "delay_reason_sha256": reason_digest(delay_reason) if delay_reason else None,
                     "notified_at": _iso(sent_at),
                     "hours_after_awareness": document["timeliness"]["hours_after_awareness"],
                     "within_72_hours": document["timeliness"]["within_72_hours"],
                     "authority_case": breach.authority_case,
                     "notification_sha256": notification_digest(document)})
    return breach


# -- Art. 34: telling the people affected ----------------------------------------------


def affected_requests(breach: Breach) -> list[RightsRequest]:
    """One request per person (by their address's hash) among those the
    breach affects, with an address still held: the latest, whose language
    the person chose last."""
    requests = RightsRequest.objects.filter(verified_at__isnull=False).exclude(email="")
    if not breach.affects_all_requesters:
        requests = requests.filter(reference__in=breach.affected_references)
    seen, people = set(), []
    for request in requests.order_by("-created_at", "-pk"):
        key = request.email_hash or request.email.lower()
        if key not in seen:
            seen.add(key)
            people.append(request)
    return people


def notice_context(breach: Breach) -> dict:
    """What an Art. 34(2) message says: the nature of the breach, the DPO's
    contact (in the e-mail's footer), the likely consequences and the
    measures."""
    return {"breach": breach.reference, "summary": breach.summary,
            "aware_on": timezone.localdate(breach.aware_at).isoformat(),
            "data_categories": breach.data_categories,
            "consequences": breach.consequences, "measures_taken": breach.measures_taken,
            "measures_proposed": breach.measures_proposed}


@transaction.atomic
def decide_communication(breach: Breach, *, actor: str, communication: str, reasons: str,
                         affects_all_requesters: bool = False,
                         affected_references: list[str] | None = None) -> Breach:
    """Record the Art. 34 decision, once. Telling each person queues one
    e-mail per person with a request on the portal, in their language; a
    public notice shows on the transparency page from now on."""
    breach = Breach.objects.select_for_update().get(pk=breach.pk)
    if breach.communication != Breach.Communication.UNDECIDED:
        raise StepRefused(_("The decision on telling the people affected was recorded already."))
    if communication not in Breach.Communication.values or \
            communication == Breach.Communication.UNDECIDED:
        raise StepRefused(_("Choose how the people affected are told, or that they are not."))
    if not reasons.strip():
        raise StepRefused(_("Give the reasons for the decision."))
    now = timezone.now()
    breach.communication = communication
    breach.communication_reasons = reasons.strip()
    breach.communication_decided_at = now
    breach.communication_decided_by = actor
    breach.affects_all_requesters = affects_all_requesters
    breach.affected_references = sorted(set(affected_references or []))
    if communication == Breach.Communication.INDIVIDUAL:
        if not affects_all_requesters and not breach.affected_references:
            raise StepRefused(_("Say whose requests the breach affects: all of them, or the "
                                "references you list."))
        context = notice_context(breach)
        for request in affected_requests(breach):
            person = request.email_hash or request.pk
            if queue_email(request, "breach_notice", context=context,
                           event_key=f"breach:{breach.reference}:{person}"):
                breach.people_told += 1
    if communication == Breach.Communication.PUBLIC:
        breach.public_notice_at = now
    breach.save()
    record_event(None, reference=breach.reference, actor=actor,
                 action=BreachAction.COMMUNICATION_DECIDED,
                 details={"communication": communication, "people_told": breach.people_told,
                          "reasons_sha256": reason_digest(breach.communication_reasons),
                          "affects_all_requesters": affects_all_requesters,
                          "affected_requests": len(breach.affected_references),
                          "public_notice": breach.public_notice_at is not None})
    return breach


def public_notices() -> list[Breach]:
    """The breaches told publicly (Art. 34(3)(c)), newest first."""
    return list(Breach.objects.filter(communication=Breach.Communication.PUBLIC,
                                      public_notice_at__isnull=False).order_by("-public_notice_at"))


def events_of(breach: Breach) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(reference=breach.reference, request__isnull=True)
                .order_by("pk"))


def action_label(action: str) -> str:
    try:
        return str(BreachAction(action).label)
    except ValueError:
        return action


# -- the register, exported ----------------------------------------------------------------

REGISTER_COLUMNS = [
    "reference", "occurred_at", "aware_at", "recorded_at", "recorded_by", "summary",
    "data_categories", "people_categories", "approx_people", "approx_records", "consequences",
    "measures_taken", "measures_proposed", "decided_by", "deadline", "authority_notified_at",
    "hours_to_notification", "within_72_hours", "delay_reason", "authority_case",
    "communication", "communication_reasons", "communication_decided_at", "people_told",
    "public_notice_at",
]


def register_entry(breach: Breach) -> dict:
    notified = breach.authority_notified_at
    return {
        "reference": breach.reference,
        "occurred_at": _iso(breach.occurred_at),
        "aware_at": _iso(breach.aware_at),
        "recorded_at": _iso(breach.recorded_at),
        "recorded_by": breach.recorded_by,
        "summary": breach.summary,
        "data_categories": breach.data_categories,
        "people_categories": breach.people_categories,
        "approx_people": breach.approx_people,
        "approx_records": breach.approx_records,
        "consequences": breach.consequences,
        "measures_taken": breach.measures_taken,
        "measures_proposed": breach.measures_proposed,
        "decided_by": breach.decided_by,
        "deadline": _iso(breach.deadline),
        "authority_notified_at": _iso(notified),
        "hours_to_notification": round(breach.hours_since_awareness(notified), 1)
        if notified else None,
        "within_72_hours": (not breach.is_late(notified)) if notified else None,
        "delay_reason": breach.delay_reason,
        "authority_case": breach.authority_case,
        "communication": breach.communication,
        "communication_reasons": breach.communication_reasons,
        "communication_decided_at": _iso(breach.communication_decided_at),
        "people_told": breach.people_told,
        "public_notice_at": _iso(breach.public_notice_at),
    }


def register(*, since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[dict]:
    """The register, oldest first; with a period, the breaches whose
    controller became aware of them within it."""
    breaches = Breach.objects.order_by("aware_at", "pk")
    if since is not None:
        breaches = breaches.filter(aware_at__gte=since)
    if until is not None:
        breaches = breaches.filter(aware_at__lt=until)
    return [register_entry(b) for b in breaches]


def register_csv_rows(entries: list[dict]) -> list[list[str]]:
    rows = [list(REGISTER_COLUMNS)]
    for entry in entries:
        row = []
        for column in REGISTER_COLUMNS:
            value = entry[column]
            if isinstance(value, list):
                value = "+".join(value)
            value = "" if value is None else str(value)
            # Free texts are the DPO's: quote what a spreadsheet would run.
            row.append("'" + value if value[:1] in ("=", "+", "-", "@") else value)
        rows.append(row)
    return rows
