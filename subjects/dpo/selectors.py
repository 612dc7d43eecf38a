"""Reads for the DPO: the queue with its due dates, counts, one request's
evidence, and the figures. Every function here runs a fixed number of
queries, however many requests there are."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import Case, Count, F, Func, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from search.imaging import ImageError, load_image
from search.redaction import encode
from subjects.core import state_counts
from subjects.core.deadlines import DUE_SOON_DAYS, CurrentDueOn, add_months, due_date_sql
from subjects.core.faces import earlier_requests_for_faces
from subjects.core.outbox import TO_DPO, TO_RECIPIENT
from subjects.core.states import NEEDS_DPO, OPEN, State
from subjects.models import LISTED_BY_DEFAULT, NEEDS_DPO_FIRST, Match, RightsRequest
from subjects.person.camera_check import evidence
from subjects.person.camera_check.rules.known_photo import COPY_MIN

#: Never verified: hidden from the queue unless asked for.
NEVER_VERIFIED = (State.UNVERIFIED, State.EXPIRED)
KINDS = tuple(RightsRequest.Kind.values)

#: Due windows the queue filters on.
DUE_WINDOWS = ("overdue", "week", "month", "none")

#: Open requests, in one fixed order: the due counts' filter is then exactly
#: the condition of the partial index ``request_open_due`` that serves it.
OPEN_STATES = sorted(OPEN)

#: Sort keys: the name in the URL, the ordering it means.
# Open requests come first when sorting by due date: a closed one's due date
# is history. The stored due date (``RightsRequest.due_on``) sorts; a pause
# still running moves a request's deadline a day per day paused, not its
# place in the queue.
# What waits for the DPO (a review, an identity check, a stopped job) comes
# before everything else, then the other open requests, then the rest.
_CLOSED_LAST = Case(When(state__in=NEEDS_DPO, then=Value(0)),
                    When(state__in=OPEN, then=Value(1)), default=Value(2))
#: Only open requests and identity checks listed (the default): what waits
#: for the DPO first, then by the stored due date.
# Ascending, the index ``request_listed_due`` hands the first page over in
# this order.
OPEN_SORTS = {"due": (NEEDS_DPO_FIRST, F("due_on").asc(nulls_last=True), "pk"),
              "-due": (NEEDS_DPO_FIRST, F("due_on").desc(nulls_last=True), "-pk")}
SORTS = {
    "due": (_CLOSED_LAST, F("due_on").asc(nulls_last=True), "pk"),
    "-due": (_CLOSED_LAST, F("due_on").desc(nulls_last=True), "-pk"),
    "received": (F("received_at").asc(nulls_last=True), "pk"),
    "-received": (F("received_at").desc(nulls_last=True), "-pk"),
    "created": ("created_at", "pk"),
    "-created": ("-created_at", "-pk"),
    "reference": ("reference",),
    "-reference": ("-reference",),
    "state": ("state", "pk"),
    "-state": ("-state", "-pk"),
}
DEFAULT_SORT = "due"

#: Only what the queue shows: never the face template or the address.
QUEUE_FIELDS = ("reference", "state", "language", "created_at", "verified_at", "received_at",
                "access", "erasure", "objection", "extension_months", "paused_days",
                "paused_since", "closed_at")


def with_due_dates(queryset: QuerySet, now: dt.datetime | None = None) -> QuerySet:
    """``due_now``: each request's due date as it stands at ``now`` (the
    stored one plus the days of a pause still running)."""
    return queryset.annotate(due_now=CurrentDueOn(now or timezone.now()))


@dataclass
class QueueFilters:
    states: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    due: str = ""
    reference: str = ""
    include_unverified: bool = False
    #: Only open requests (filed and not closed): what the queue lists
    #: unless asked for more, or for states.
    open_only: bool = True
    sort: str = DEFAULT_SORT


def normalise_reference(text: str) -> str:
    """What a DPO types for a reference: any case, with or without dashes."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def queue(filters: QueueFilters, *, today: dt.date | None = None,
          now: dt.datetime | None = None) -> QuerySet:
    """The requests the queue lists, filtered and sorted, with ``due_now``."""
    today = today or timezone.localdate()
    requests = with_due_dates(RightsRequest.objects.only(*QUEUE_FIELDS, "due_on"), now)
    sorts = SORTS
    if filters.states:
        requests = requests.filter(state__in=filters.states)
    elif filters.open_only and not filters.include_unverified:
        requests = requests.filter(state__in=LISTED_BY_DEFAULT)
        sorts = {**SORTS, **OPEN_SORTS}
    elif not filters.include_unverified:
        requests = requests.exclude(state__in=NEVER_VERIFIED)
    if filters.kinds:
        any_kind = Q()
        for kind in filters.kinds:
            any_kind |= Q(**{kind: True})
        requests = requests.filter(any_kind)
    if filters.languages:
        requests = requests.filter(language__in=filters.languages)
    if filters.due == "overdue":
        requests = requests.filter(state__in=OPEN, due_now__lt=today)
    elif filters.due == "week":
        requests = requests.filter(state__in=OPEN,
                                   due_now__range=(today, today + dt.timedelta(DUE_SOON_DAYS)))
    elif filters.due == "month":
        requests = requests.filter(state__in=OPEN,
                                   due_now__range=(today, today + dt.timedelta(31)))
    elif filters.due == "none":
        requests = requests.filter(received_at__isnull=True)
    if filters.reference:
        wanted = normalise_reference(filters.reference)
        if wanted:
            # References are stored with dashes; compare without them.
            requests = requests.annotate(
                bare_reference=Func(F("reference"), Value("-"), Value(""), function="REPLACE")
            ).filter(bare_reference__contains=wanted)
    return requests.order_by(*sorts.get(filters.sort, sorts[DEFAULT_SORT]))


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue, with its deadline as the DPO reads it."""

    request: RightsRequest
    today: dt.date

    @property
    def due_on(self) -> dt.date | None:
        """The due date as it stands now (a running pause counted)."""
        return getattr(self.request, "due_now", None) or self.request.due_date

    @property
    def days_left(self) -> int | None:
        if self.due_on is None or not self.request.is_open:
            return None
        return (self.due_on - self.today).days

    @property
    def days_overdue(self) -> int:
        days = self.days_left
        return -days if days is not None and days < 0 else 0

    @property
    def urgency(self) -> str:
        days = self.days_left
        if days is None:
            return ""
        if days < 0:
            return "overdue"
        if days <= DUE_SOON_DAYS:
            return "due-soon"
        return ""


def rows(page, today: dt.date | None = None) -> list[QueueRow]:
    today = today or timezone.localdate()
    return [QueueRow(request, today) for request in page]


@dataclass(frozen=True)
class Counts:
    by_state: dict[str, int]
    overdue: int
    due_soon: int

    @property
    def open(self) -> int:
        """Filed and not final, and the identity checks: all work still to do."""
        return sum(n for state, n in self.by_state.items()
                   if state in OPEN or state == State.IDENTITY_REVIEW)

    @property
    def needs_action(self) -> int:
        return sum(n for state, n in self.by_state.items() if state in NEEDS_DPO)

    def per_state(self) -> list[tuple[State, str, int]]:
        """Each state, named for the DPO, and how many requests are in it."""
        return [(State(state), DPO_STATE_LABELS.get(state, State(state).label), n)
                for state, n in self.by_state.items()]


#: States whose name speaks to the person ("... from you"), as the DPO reads them.
DPO_STATE_LABELS = {
    State.INFO_REQUESTED: _("Waiting for information from the person"),
    State.IDENTITY_REVIEW: _("Identity check to do"),
}


def counts(*, today: dt.date | None = None, now: dt.datetime | None = None) -> Counts:
    """Requests per state (one query over the few rows per state that the
    database keeps, ``StateCount``), and open ones overdue or due within a
    week (one query over the open requests' index on the stored due date)."""
    today = today or timezone.localdate()
    by_state = dict.fromkeys(State.values, 0)
    by_state.update(state_counts.by_state())
    due = (
        with_due_dates(RightsRequest.objects.filter(state__in=OPEN_STATES), now)
        .aggregate(
            overdue=Count("pk", filter=Q(due_now__lt=today)),
            due_soon=Count("pk", filter=Q(
                due_now__range=(today, today + dt.timedelta(DUE_SOON_DAYS)))),
        )
    )
    return Counts(by_state, due["overdue"], due["due_soon"])


# -- one request ------------------------------------------------------------------


REFERENCE = re.compile(r"^FR-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")


def request_for_dpo(reference: str) -> RightsRequest | None:
    """The request of a reference (any case), with ``due_on``; None for
    anything that is not a reference at all."""
    wanted = reference.strip().upper()
    if not REFERENCE.match(wanted):
        return None
    return with_due_dates(RightsRequest.objects.all()).filter(reference=wanted).first()


def recipient_kind(kind: str) -> str:
    if kind in TO_DPO:
        return "dpo"
    if kind in TO_RECIPIENT:
        return "recipient"
    return "person"


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str  # "event" or "email"
    item: object


def timeline(request: RightsRequest) -> list[TimelineEntry]:
    """Audit events and e-mails of a request, oldest first (two queries)."""
    entries = [TimelineEntry(e.at, "event", e) for e in request.events.order_by("pk")]
    for email in request.emails.order_by("pk").defer("context", "recipient"):
        email.addressed_to = recipient_kind(email.kind)
        entries.append(TimelineEntry(email.created_at, "email", email))
    return sorted(entries, key=lambda entry: (entry.at, entry.kind != "event"))


def _stored_jpeg(name: str) -> bytes | None:
    """A stored picture re-encoded (never its stored bytes); None if gone."""
    if not name or not default_storage.exists(name):
        return None
    with default_storage.open(name, "rb") as handle:
        try:
            return encode(load_image(handle.read()))
        except ImageError:
            return None


def answer_photo_jpeg(request: RightsRequest) -> bytes | None:
    """The photo the person sent with an answer, re-encoded; None if gone."""
    return _stored_jpeg(request.answer_photo_file)


def review_selfie_jpeg(request: RightsRequest) -> bytes | None:
    """The selfie kept for the DPO (an upload for the identity check, or the
    live camera picture until the filed request is decided), re-encoded
    (never the stored bytes themselves); None once it is gone."""
    return _stored_jpeg(request.selfie_review_file)


def earlier_requests(request: RightsRequest) -> list[RightsRequest]:
    """Requests from other addresses whose selfies matched this request's
    ``match``-tier faces in the last ``FACE_GUARD_DAYS`` days: why a live
    selfie went to the identity check (``subjects.jobs.selfie_search``)."""
    faces = request.matches.filter(tier=Match.Tier.MATCH, face__isnull=False).values_list(
        "face_id", flat=True)
    return earlier_requests_for_faces(request, faces, days=settings.FACE_GUARD_DAYS)


def matches_of(request: RightsRequest) -> list:
    """Every match of the search, nearest first, erased ones included."""
    return list(request.matches.order_by("distance", "pk"))


# -- figures ------------------------------------------------------------------------
# The raw SQL below reads RightsRequest's table, subjects_rightsrequest, in
# one query per figure.


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def weeks_back(today: dt.date, weeks: int) -> list[dt.date]:
    first = _week_start(today) - dt.timedelta(weeks=weeks - 1)
    return [first + dt.timedelta(weeks=n) for n in range(weeks)]


def requests_per_week(*, weeks: int = 26, today: dt.date | None = None) -> list[dict]:
    """Filed requests per week (Monday) of receipt, by type; one query."""
    today = today or timezone.localdate()
    starts = weeks_back(today, weeks)
    since = timezone.make_aware(dt.datetime.combine(starts[0], dt.time.min))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT date_trunc('week', received_at AT TIME ZONE %s)::date AS week,"
            " count(*), count(*) FILTER (WHERE access), count(*) FILTER (WHERE erasure),"
            " count(*) FILTER (WHERE objection)"
            " FROM subjects_rightsrequest WHERE received_at >= %s GROUP BY 1",
            [timezone.get_current_timezone_name(), since],
        )
        found = {week: (n, a, e, o) for week, n, a, e, o in cursor.fetchall()}
    # ``requests`` counts each request once; one asking for access and
    # erasure counts under both types.
    return [
        dict(zip(("week", "requests", "access", "erasure", "objection"),
                 (start, *found.get(start, (0, 0, 0, 0))), strict=True))
        for start in starts
    ]


def completion_days(*, months: int = 12, today: dt.date | None = None) -> dict:
    """Median days from receipt to completion, overall and per month of
    completion, over the last ``months`` months; one query."""
    today = today or timezone.localdate()
    first = add_months(today.replace(day=1), 1 - months)
    since = timezone.make_aware(dt.datetime.combine(first, dt.time.min))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT month, percentile_cont(0.5) WITHIN GROUP (ORDER BY days), count(*)"
            " FROM (SELECT date_trunc('month', closed_at AT TIME ZONE %s)::date AS month,"
            "  EXTRACT(EPOCH FROM closed_at - received_at) / 86400.0 AS days"
            "  FROM subjects_rightsrequest"
            "  WHERE state = %s AND received_at IS NOT NULL AND closed_at >= %s) AS done"
            " GROUP BY ROLLUP (month) ORDER BY month NULLS LAST",
            [timezone.get_current_timezone_name(), State.COMPLETED, since],
        )
        result = cursor.fetchall()
    per_month = {month: (median, n) for month, median, n in result if month is not None}
    overall = next(((median, n) for month, median, n in result if month is None), (None, 0))
    months_list = []
    day = first
    while day <= today:
        median, n = per_month.get(day, (None, 0))
        months_list.append({"month": day, "median_days": None if median is None
                            else round(float(median), 1), "completed": n})
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return {"median_days": None if overall[0] is None else round(float(overall[0]), 1),
            "completed": overall[1], "months": months_list}


def open_and_overdue(*, weeks: int = 26, today: dt.date | None = None,
                     now: dt.datetime | None = None) -> list[dict]:
    """How many requests were open, and how many of those overdue, at the
    end of each of the last weeks (one query). Open: received and not yet
    closed; overdue: open past the due date as it stands now (an extension
    counts from the start, a pause with its days so far)."""
    today = today or timezone.localdate()
    ends = [min(start + dt.timedelta(days=6), today) for start in weeks_back(today, weeks)]
    tz = timezone.get_current_timezone_name()
    due = due_date_sql("(r.received_at AT TIME ZONE %s)::date", "r.extension_months",
                       "r.paused_days", "%s", "r.paused_since")
    with connection.cursor() as cursor:
        # ``due`` is the fixed SQL of deadlines.due_date_sql: no input reaches it.
        cursor.execute(
            "SELECT d.day,"  # noqa: S608  # fixed SQL  # nosec B608
            " count(r.id),"
            f" count(r.id) FILTER (WHERE {due} < d.day)"
            " FROM unnest(%s::date[]) AS d(day)"
            " LEFT JOIN subjects_rightsrequest r"
            "  ON r.received_at IS NOT NULL"
            "  AND (r.received_at AT TIME ZONE %s)::date <= d.day"
            "  AND (r.closed_at IS NULL OR (r.closed_at AT TIME ZONE %s)::date > d.day)"
            " GROUP BY d.day ORDER BY d.day",
            [tz, now or timezone.now(), ends, tz, tz],
        )
        return [{"day": day, "open": n_open, "overdue": n_overdue}
                for day, n_open, n_overdue in cursor.fetchall()]


def figures(*, today: dt.date | None = None) -> dict:
    today = today or timezone.localdate()
    return {
        "per_week": requests_per_week(today=today),
        "completion": completion_days(today=today),
        "open_overdue": open_and_overdue(today=today),
        "counts": counts(today=today),
    }


def camera_evidence(request) -> dict | None:
    """The last finished camera check of ``request`` as the DPO sees it:
    each rule's value against its threshold, the nearest scraped face's
    distance and whether the live face looks like a copy of it."""
    challenge = (request.challenges.filter(used_at__isnull=False).exclude(evidence={})
                 .order_by("-used_at").first())
    if challenge is None:
        return None
    found = challenge.evidence
    return {"passed": challenge.passed, "failure": challenge.failure,
            "rows": evidence.rows_for_page(found),
            "nearest_scraped": found.get("nearest_scraped"),
            "copy_score": found.get("copy_score"), "copy_min": COPY_MIN,
            "copy_flag": found.get("copy_flag", False)}
