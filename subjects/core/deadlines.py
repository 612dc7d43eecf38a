"""Art. 12(3) GDPR deadlines: one calendar month from receipt, extendable
once by up to two further months; time spent waiting for information asked
of the person does not count.

The one home of the deadline rules: the due date in Python
(:func:`due_date`, :func:`request_due_date`) and the same date in SQL
(:func:`due_date_sql`, :class:`DueOn`) side by side, the stored one
(:func:`stored_due_date`, kept in ``RightsRequest.due_on`` on every save,
:class:`StoredDueOn`, :class:`CurrentDueOn`), the extension rule
(:func:`extension_refusal`) and the alert days. ``tests/subjects/
test_deadlines.py`` compares the Python and the SQL forms.
"""

from __future__ import annotations

import calendar
import datetime as dt

from django.db.models import DateField, F, Func, Value
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from subjects.core.states import State

MAX_EXTENSION_MONTHS = 2
#: "Due soon" on the dashboard, and the first alert to the DPO.
DUE_SOON_DAYS = 7
#: Alerts to the DPO: days left -> the e-mail (overdue ones: every day).
ALERTS = {DUE_SOON_DAYS: "dpo_due_soon", 2: "dpo_due_soon", 1: "dpo_due_tomorrow"}
OVERDUE_ALERT = "dpo_overdue"
#: To the person, once per due date, when the request is overdue: it is late,
#: and they may complain (Art. 77) and go to court (Art. 79).
LATE_NOTICE = "request_late"
#: Why a deadline is extended (Art. 12(3): "taking into account the
#: complexity and number of the requests"), as the transparency page counts it.
EXTENSION_GROUNDS = {
    "complexity": _("Complexity of the request"),
    "number": _("Number of requests"),
}


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar months: 31 January + 1 month is 28 (or 29) February."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_date(
    received: dt.date, *, extension_months: int = 0, paused_days: int = 0
) -> dt.date:
    if not 0 <= extension_months <= MAX_EXTENSION_MONTHS:
        raise ValueError("an extension is of one or two months")
    return add_months(received, 1 + extension_months) + dt.timedelta(days=paused_days)


def paused_days_so_far(paused_days: int, paused_since: dt.datetime | None,
                       now: dt.datetime | None = None) -> int:
    """The days already paused, plus those of a pause still running."""
    if paused_since is None:
        return paused_days
    return paused_days + ((now or timezone.now()) - paused_since).days


def request_due_date(request, now: dt.datetime | None = None) -> dt.date | None:
    """A request's due date as it stands now (None before filing)."""
    if request.received_at is None:
        return None
    return due_date(
        timezone.localdate(request.received_at),
        extension_months=request.extension_months,
        paused_days=paused_days_so_far(request.paused_days, request.paused_since, now),
    )


def answer_due_date(request, now: dt.datetime | None = None) -> dt.date | None:
    """When the person is owed an answer, in a state that waits on the
    controller: a filed request's due date; an identity check (not filed
    yet, waiting for the DPO) one calendar month from the day the person
    started the request (Art. 12(3) counts from the request, and their
    selfie search is one: the answer owed is whether their face is held).
    None for a request that owes nothing now."""
    if request.received_at is not None:
        return request_due_date(request, now)
    if request.state == State.IDENTITY_REVIEW:
        return due_date(timezone.localdate(request.created_at))
    return None


def stored_due_date(request) -> dt.date | None:
    """The due date kept in ``RightsRequest.due_on``: :func:`request_due_date`
    with the days of every finished pause, but not those of a pause still
    running (its days are added when it ends, by ``paused_days``). While no
    pause runs, it is the due date itself; while one runs, the due date is
    it plus the days paused so far (:class:`CurrentDueOn`)."""
    if request.received_at is None:
        return None
    return due_date(timezone.localdate(request.received_at),
                    extension_months=request.extension_months,
                    paused_days=request.paused_days)


#: The fields the stored due date is computed from.
DUE_DATE_FIELDS = frozenset({"received_at", "extension_months", "paused_days"})


def due_date_sql(received_day: str, extension_months: str, paused_days: str, now: str,
                 paused_since: str) -> str:
    """:func:`request_due_date` in SQL, from SQL expressions for its parts:
    the local day of receipt plus one calendar month and the extension
    (PostgreSQL clamps 31 Jan + 1 month to 28/29 Feb, as :func:`add_months`
    does), plus the days paused, a running pause included."""
    return (f"(({received_day} + make_interval(months => 1 + {extension_months}))::date"
            f" + {paused_days}"
            f" + COALESCE(EXTRACT(DAY FROM ({now} - {paused_since}))::integer, 0))")


class DueOn(Func):
    """The due date of each row of a ``RightsRequest`` query."""

    output_field = DateField()

    def __init__(self, now: dt.datetime):
        super().__init__(TruncDate("received_at"), F("extension_months"), F("paused_days"),
                         Value(now), F("paused_since"))

    def as_sql(self, compiler, connection, **extra):
        parts = [compiler.compile(expression) for expression in self.get_source_expressions()]
        sql = due_date_sql(*(part_sql for part_sql, _params in parts))
        return sql, tuple(param for _sql, params in parts for param in params)


class StoredDueOn(Func):
    """:func:`stored_due_date` in SQL (a running pause not counted): what
    fills ``due_on`` in bulk (the migration that added it, the benchmark)."""

    output_field = DateField()

    def __init__(self):
        super().__init__(TruncDate("received_at"), F("extension_months"), F("paused_days"))

    def as_sql(self, compiler, connection, **extra):
        parts = [compiler.compile(expression) for expression in self.get_source_expressions()]
        received, months, paused = (part_sql for part_sql, _params in parts)
        sql = due_date_sql(received, months, paused, "NULL::timestamptz", "NULL::timestamptz")
        return sql, tuple(param for _sql, params in parts for param in params)


class CurrentDueOn(Func):
    """The due date as it stands at ``now`` from the stored ``due_on``: plus
    the days of a pause still running. Equal to :class:`DueOn`."""

    output_field = DateField()

    def __init__(self, now: dt.datetime):
        super().__init__(F("due_on"), Value(now), F("paused_since"))

    def as_sql(self, compiler, connection, **extra):
        parts = [compiler.compile(expression) for expression in self.get_source_expressions()]
        due, now, since = (part_sql for part_sql, _params in parts)
        sql = f"({due} + COALESCE(EXTRACT(DAY FROM ({now} - {since}))::integer, 0))"
        return sql, tuple(param for _sql, params in parts for param in params)


def extension_refusal(request, today: dt.date | None = None):
    """Why the deadline of ``request`` cannot be extended now, or None.

    Art. 12(3): once, by up to two months, decided within the first month,
    and only while the request is open."""
    today = today or timezone.localdate()
    if request.extension_months:
        return _("The deadline has already been extended once.")
    first_due = request.first_due_date
    if first_due is None or today > first_due:
        return _("An extension must be decided before the first due date.")
    if not request.is_open:
        return _("Only an open request can be extended.")
    return None


def alert_for(days_left: int) -> str | None:
    """The DPO's alert e-mail for a request with ``days_left``, if any."""
    if days_left < 0:
        return OVERDUE_ALERT
    return ALERTS.get(days_left)
