"""The public transparency page's figures: per month, aggregates of the
register and nothing else, every count below ``TRANSPARENCY_MIN_COUNT``
published as "fewer than N" (:class:`FewerThan`), never as itself.

Requests count in the month they were received; erasures, Art. 19 notices
and their acknowledgements in the month they happened; the suppression list
at the end of each month. One query per figure, whatever the number of
requests.

How a request received in a month was answered (each in exactly one):

- *within a month*: completed or rejected by its first due date (one
  calendar month, plus any days paused while waiting for the person);
- *within an extension*: answered after that, by the extended due date;
- *late*: answered after its due date, or still open past it;
- *withdrawn* by the person;
- *not yet due*: still open, within its time limit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from search.models import Suppression
from subjects.core.deadlines import EXTENSION_GROUNDS, add_months, due_date_sql
from subjects.core.events import Action
from subjects.core.states import FINAL, State
from subjects.models import AuditEvent, PublishedAuditHead, RecipientNotice
from subjects.review.actions import REJECTION_GROUNDS

MONTHS = 12
NOT_RECORDED = "not_recorded"

#: The figures of a month, in the order of the downloads' columns.
RECEIVED = ("received", "access", "erasure", "objection")
ANSWERED = ("in_time", "in_extension", "late", "withdrawn", "not_yet_due")
ERASED = ("faces_erased", "photos_deleted", "photos_redacted")
NOTICES = ("notices_sent", "notices_acknowledged")

LABELS = {
    "received": _("Requests received"),
    "access": _("Access"),
    "erasure": _("Erasure"),
    "objection": _("Objection"),
    "in_time": _("Answered within a month"),
    "in_extension": _("Answered within an extension"),
    "late": _("Late"),
    "withdrawn": _("Withdrawn"),
    "not_yet_due": _("Not yet due"),
    "answered": _("Answered"),
    "median_days": _("Median days"),
    "p90_days": _("90th percentile, days"),
    "faces_erased": _("Faces erased"),
    "photos_deleted": _("Photos deleted"),
    "photos_redacted": _("Photos with the face removed"),
    "notices_sent": _("Notices sent"),
    "notices_acknowledged": _("Notices acknowledged"),
    "suppression_list": _("Suppression list size"),
}
EXTENSION_LABELS = {**EXTENSION_GROUNDS, NOT_RECORDED: _("Not recorded")}
REJECTION_LABELS = {**REJECTION_GROUNDS, NOT_RECORDED: _("Not recorded")}


@dataclass(frozen=True)
class FewerThan:
    """A count too small to publish."""

    threshold: int

    def __str__(self) -> str:
        return gettext("fewer than %(count)d") % {"count": self.threshold}

    def as_json(self) -> dict:
        return {"fewer_than": self.threshold}


def published(count: int) -> int | FewerThan:
    threshold = settings.TRANSPARENCY_MIN_COUNT
    return FewerThan(threshold) if count < threshold else count


@dataclass
class Month:
    """One month's figures as published: counts (an int or
    :class:`FewerThan`), and days to answer (None when fewer requests than
    the threshold were answered)."""

    month: dt.date
    counts: dict = field(default_factory=dict)
    median_days: float | None = None
    p90_days: float | None = None
    extensions: dict = field(default_factory=dict)
    rejections: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.month.strftime("%Y-%m")


def month_starts(today: dt.date, months: int = MONTHS) -> list[dt.date]:
    first = add_months(today.replace(day=1), 1 - months)
    return [add_months(first, n) for n in range(months)]


def _aware(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _month_sql(column: str) -> str:
    return f"date_trunc('month', {column} AT TIME ZONE %s)::date"


_ANSWERED = (State.COMPLETED, State.REJECTED)


def _requests_by_month(since: dt.date, today: dt.date) -> dict[dt.date, dict]:
    """Requests received since ``since``, per month of receipt: by kind,
    by how they were answered, and the days to answer (one query)."""
    tz = timezone.get_current_timezone_name()
    due = due_date_sql("r.received_on", "r.extension_months", "r.paused_days", "%s",
                       "r.paused_since")
    first_due = due_date_sql("r.received_on", "0", "r.paused_days", "%s", "r.paused_since")
    now = timezone.now()
    with connection.cursor() as cursor:
        # ``due`` and ``first_due`` are the fixed SQL of deadlines.due_date_sql
        # (each takes one parameter: now, for a pause still running).
        cursor.execute(
            "SELECT r.month, count(*),"  # noqa: S608  # nosec B608
            " count(*) FILTER (WHERE r.access), count(*) FILTER (WHERE r.erasure),"
            " count(*) FILTER (WHERE r.objection),"
            f" count(*) FILTER (WHERE r.answered AND r.closed_on <= {first_due}),"
            f" count(*) FILTER (WHERE r.answered AND r.closed_on > {first_due}"
            f"  AND r.closed_on <= {due}),"
            f" count(*) FILTER (WHERE (r.answered AND r.closed_on > {due})"
            f"  OR (NOT r.final AND %s > {due})),"
            " count(*) FILTER (WHERE r.state = %s),"
            f" count(*) FILTER (WHERE NOT r.final AND %s <= {due}),"
            " count(*) FILTER (WHERE r.answered),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY r.days) FILTER (WHERE r.answered),"
            " percentile_cont(0.9) WITHIN GROUP (ORDER BY r.days) FILTER (WHERE r.answered)"
            " FROM (SELECT " + _month_sql("received_at") + " AS month,"
            "  (received_at AT TIME ZONE %s)::date AS received_on,"
            "  (closed_at AT TIME ZONE %s)::date AS closed_on,"
            "  (closed_at AT TIME ZONE %s)::date - (received_at AT TIME ZONE %s)::date AS days,"
            "  state = ANY(%s) AS answered, state = ANY(%s) AS final, state, access, erasure,"
            "  objection, extension_months, paused_days, paused_since"
            "  FROM subjects_rightsrequest WHERE received_at >= %s) AS r"
            " GROUP BY r.month",
            [now,  # in time
             now, now,  # in an extension
             now, today, now,  # late
             State.WITHDRAWN,
             today, now,  # not yet due
             tz, tz, tz, tz, tz, [str(s) for s in _ANSWERED], [str(s) for s in FINAL],
             _aware(since)],
        )
        rows = cursor.fetchall()
    keys = (*RECEIVED, *ANSWERED, "answered", "median", "p90")
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}


def _grounds_by_month(column: str, condition: str, since: dt.date) -> dict[dt.date, dict]:
    """Requests received since ``since`` that meet ``condition``, per month
    of receipt and value of ``column`` (one query)."""
    tz = timezone.get_current_timezone_name()
    with connection.cursor() as cursor:
        # ``column`` and ``condition`` are fixed strings of this module.
        cursor.execute(
            "SELECT " + _month_sql("received_at") + f", {column}, count(*)"  # noqa: S608
            f" FROM subjects_rightsrequest WHERE received_at >= %s AND {condition}"
            " GROUP BY 1, 2",
            [tz, _aware(since)],
        )
        found: dict[dt.date, dict] = {}
        for month, ground, n in cursor.fetchall():
            key = ground or NOT_RECORDED
            found.setdefault(month, {})
            found[month][key] = found[month].get(key, 0) + n
    return found


def _erased_by_month(since: dt.date) -> dict[dt.date, dict]:
    """Faces and photos erased, per month of completion, from the audit
    trail's completion events (kept after the request's own data is purged)."""
    tz = timezone.get_current_timezone_name()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + _month_sql("at") + ","  # noqa: S608  # a fixed column name  # nosec B608
            " coalesce(sum((details->'erasure'->>'faces_erased')::integer), 0),"
            " coalesce(sum((details->'erasure'->>'photos_deleted')::integer), 0),"
            " coalesce(sum((details->'erasure'->>'photos_redacted')::integer), 0)"
            " FROM subjects_auditevent WHERE action = %s AND at >= %s"
            " AND details ? 'erasure' GROUP BY 1",
            [tz, Action.COMPLETED, _aware(since)],
        )
        return {month: dict(zip(ERASED, values, strict=True))
                for month, *values in cursor.fetchall()}


def _notices_by_month(since: dt.date) -> dict[dt.date, dict]:
    tz = timezone.get_current_timezone_name()
    table = RecipientNotice._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT month, sum(sent), sum(acknowledged) FROM ("  # noqa: S608  # nosec B608
            f" SELECT {_month_sql('notified_at')} AS month, 1 AS sent, 0 AS acknowledged"
            f"  FROM {table} WHERE notified_at >= %s"
            " UNION ALL"
            f" SELECT {_month_sql('acknowledged_at')}, 0, 1"
            f"  FROM {table} WHERE acknowledged_at >= %s) AS n GROUP BY month",
            [tz, _aware(since), tz, _aware(since)],
        )
        return {month: {"notices_sent": int(sent), "notices_acknowledged": int(acked)}
                for month, sent, acked in cursor.fetchall()}


def _suppression_at_month_ends(starts: list[dt.date]) -> dict[dt.date, int]:
    """The suppression list's size at the end of each month (today for the
    current one), as far as its entries are still there (one query)."""
    ends = [_aware(add_months(start, 1)) for start in starts]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e.until, count(s.id) FROM unnest(%s::timestamptz[]) AS e(until)"  # noqa: S608  # nosec B608
            f" LEFT JOIN {Suppression._meta.db_table} s ON s.created_at < e.until"
            " GROUP BY e.until",
            [ends],
        )
        by_end = dict(cursor.fetchall())
    return {start: by_end.get(end, 0) for start, end in zip(starts, ends, strict=True)}


def raw_months(*, today: dt.date | None = None, months: int = MONTHS) -> list[dict]:
    """Every month's figures before any count is withheld; only
    :func:`monthly_figures` hands them on, withheld where too small."""
    today = today or timezone.localdate()
    starts = month_starts(today, months)
    since = starts[0]
    by_receipt = _requests_by_month(since, today)
    extensions = _grounds_by_month("extension_ground", "extension_months > 0", since)
    rejections = _grounds_by_month("rejection_ground", "state = 'rejected'", since)
    erased = _erased_by_month(since)
    notices = _notices_by_month(since)
    suppression = _suppression_at_month_ends(starts)
    result = []
    for start in starts:
        found = by_receipt.get(start, {})
        counts = {key: found.get(key, 0) for key in (*RECEIVED, *ANSWERED, "answered")}
        counts.update({key: erased.get(start, {}).get(key, 0) for key in ERASED})
        counts.update({key: notices.get(start, {}).get(key, 0) for key in NOTICES})
        counts["suppression_list"] = suppression[start]
        result.append({"month": start, "counts": counts,
                       "median": found.get("median"), "p90": found.get("p90"),
                       "extensions": {key: extensions.get(start, {}).get(key, 0)
                                      for key in EXTENSION_LABELS},
                       "rejections": {key: rejections.get(start, {}).get(key, 0)
                                      for key in REJECTION_LABELS}})
    return result


def _days(value, answered: int) -> float | None:
    if value is None or answered < settings.TRANSPARENCY_MIN_COUNT:
        return None
    return round(float(value), 1)


def monthly_figures(*, today: dt.date | None = None, months: int = MONTHS) -> list[Month]:
    """The months as published, oldest first."""
    return [
        Month(month=raw["month"],
              counts={key: published(n) for key, n in raw["counts"].items()},
              median_days=_days(raw["median"], raw["counts"]["answered"]),
              p90_days=_days(raw["p90"], raw["counts"]["answered"]),
              extensions={key: published(n) for key, n in raw["extensions"].items()},
              rejections={key: published(n) for key, n in raw["rejections"].items()})
        for raw in raw_months(today=today, months=months)
    ]


def audit_heads(limit: int | None = None) -> list[PublishedAuditHead]:
    heads = PublishedAuditHead.objects.order_by("-published_on")
    return list(heads[:limit] if limit else heads)


# -- the downloads -----------------------------------------------------------------


def csv_columns() -> list[str]:
    return ["month", *RECEIVED, *ANSWERED, "answered", "median_days", "p90_days",
            *(f"extension_{key}" for key in EXTENSION_LABELS),
            *(f"rejection_{key}" for key in REJECTION_LABELS),
            *ERASED, *NOTICES, "suppression_list"]


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, FewerThan):
        return f"fewer than {value.threshold}"
    return str(value)


def csv_rows(months: list[Month]) -> list[list[str]]:
    rows = [csv_columns()]
    for month in months:
        values = [month.label, *(month.counts[k] for k in (*RECEIVED, *ANSWERED, "answered")),
                  month.median_days, month.p90_days,
                  *(month.extensions[k] for k in EXTENSION_LABELS),
                  *(month.rejections[k] for k in REJECTION_LABELS),
                  *(month.counts[k] for k in (*ERASED, *NOTICES, "suppression_list"))]
        rows.append([_csv_cell(value) for value in values])
    return rows


def _json_value(value):
    return value.as_json() if isinstance(value, FewerThan) else value


def as_json(months: list[Month], heads: list[PublishedAuditHead], *, keys_url: str,
            head_url) -> dict:
    """The page's figures as one JSON document; ``head_url(head)`` is the
    address of a published head's signed document."""
    return {
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        "controller": settings.CONTROLLER_NAME,
        "threshold": settings.TRANSPARENCY_MIN_COUNT,
        "notes": [
            "A count below the threshold is given as {\"fewer_than\": threshold}.",
            "Requests count in the month they were received; erasures, notices and "
            "acknowledgements in the month they happened; the suppression list at the "
            "month's end.",
            "median_days and p90_days are null when fewer requests than the threshold "
            "were answered.",
        ],
        "months": [
            {"month": month.label,
             "received": {k: _json_value(month.counts[k]) for k in RECEIVED},
             "answered": {k: _json_value(month.counts[k]) for k in (*ANSWERED, "answered")},
             "days_to_answer": {"median_days": month.median_days,
                                "p90_days": month.p90_days},
             "extensions_by_ground": {k: _json_value(v) for k, v in month.extensions.items()},
             "rejections_by_ground": {k: _json_value(v) for k, v in month.rejections.items()},
             "erased": {k: _json_value(month.counts[k]) for k in ERASED},
             "art19_notices": {k: _json_value(month.counts[k]) for k in NOTICES},
             "suppression_list": _json_value(month.counts["suppression_list"])}
            for month in months
        ],
        "audit_heads": [
            {"published_on": head.published_on.isoformat(), "sequence": head.sequence,
             "hash": head.hash, "at": head.head_at.isoformat() if head.head_at else None,
             "key_id": head.key_id, "document": head_url(head)}
            for head in heads
        ],
        "keys": keys_url,
    }


@dataclass(frozen=True)
class UsualTime:
    """The median time the DPO took for a kind of decision lately, and
    over how many."""

    median: dt.timedelta
    count: int

    @property
    def under_an_hour(self) -> bool:
        return self.median < dt.timedelta(hours=1)

    @property
    def hours(self) -> int:
        return max(1, round(self.median.total_seconds() / 3600))

    @property
    def days(self) -> int:
        return max(1, round(self.median.total_seconds() / 86400))


def usual_identity_check(*, days: int = 90) -> UsualTime | None:
    """How long the DPO's identity checks took in the last ``days`` days:
    from the search that sent a request to the check to the DPO's decision
    (the median, and how many). None when fewer checks than
    ``TRANSPARENCY_MIN_COUNT`` were decided: then the pages say nothing of a
    time they have not measured, nor one that describes one or two people's
    checks (a requester could tell when someone else's was decided)."""
    from_ = timezone.now() - dt.timedelta(days=days)
    ends = list(AuditEvent.objects.filter(from_state=State.IDENTITY_REVIEW, at__gte=from_)
                .exclude(to_state__in=[State.IDENTITY_REVIEW, State.WITHDRAWN, State.EXPIRED])
                .values_list("request_id", "at"))
    starts: dict[int, list[dt.datetime]] = {}
    for request_id, at in AuditEvent.objects.filter(
            to_state=State.IDENTITY_REVIEW, request_id__in={r for r, _end in ends}
    ).exclude(from_state=State.IDENTITY_REVIEW).values_list("request_id", "at"):
        starts.setdefault(request_id, []).append(at)
    took = sorted(end - max(s for s in starts[r] if s <= end) for r, end in ends
                  if any(s <= end for s in starts.get(r, [])))
    if len(took) < settings.TRANSPARENCY_MIN_COUNT:
        return None
    middle = len(took) // 2
    median = took[middle] if len(took) % 2 else (took[middle - 1] + took[middle]) / 2
    return UsualTime(median=median, count=len(took))
