"""The register of all requests as CSV: dates, types and outcome, keyed by
reference. No e-mail address, no face template, no reason text (which the
DPO may have written with personal details in it)."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator

from django.db.models import Count, Q
from django.utils import timezone

from subjects.core.states import FINAL, State
from subjects.dpo.selectors import with_due_dates
from subjects.models import Match, RightsRequest

COLUMNS = [
    "reference", "created_on", "verified_on", "received_on", "types", "language", "state",
    "outcome", "due_on", "extended_months", "closed_on", "days_to_close", "faces_confirmed",
]

#: What a state means as an outcome in the register.
OUTCOMES = {
    State.COMPLETED: "completed",
    State.REJECTED: "rejected",
    State.WITHDRAWN: "withdrawn",
    State.EXPIRED: "expired",
}


def _day(value: dt.datetime | None) -> str:
    return timezone.localdate(value).isoformat() if value else ""


def outcome_of(request: RightsRequest) -> str:
    if request.state in FINAL:
        return OUTCOMES[request.state]
    return "open" if request.is_open else "not filed"


def register_rows(*, batch_size: int = 2000) -> Iterator[list[str]]:
    """The header, then one row per request, oldest first (streamed)."""
    yield list(COLUMNS)
    requests = (
        with_due_dates(RightsRequest.objects.only(
            "reference", "created_at", "verified_at", "received_at", "access", "erasure",
            "objection", "language", "state", "extension_months", "closed_at", "paused_days",
            "paused_since"))
        .annotate(confirmed=Count("matches", filter=Q(matches__decision=Match.Decision.MINE)))
        .order_by("created_at", "pk")
    )
    for request in requests.iterator(chunk_size=batch_size):
        days = ""
        if request.received_at and request.closed_at:
            days = str((timezone.localdate(request.closed_at)
                        - timezone.localdate(request.received_at)).days)
        yield [
            request.reference,
            _day(request.created_at),
            _day(request.verified_at),
            _day(request.received_at),
            "+".join(request.kinds),
            request.language,
            request.state,
            outcome_of(request),
            request.due_now.isoformat() if request.due_now and request.received_at else "",
            str(request.extension_months),
            _day(request.closed_at),
            days,
            str(request.confirmed),
        ]


class _Echo:
    """A file-like object that hands back what csv writes to it."""

    def write(self, value: str) -> str:
        return value


def register_csv() -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in register_rows():
        # Every cell is a reference, a date, a number or a fixed word, so no
        # spreadsheet formula can sneak in; quote anyway what would start one.
        yield writer.writerow(["'" + c if c[:1] in ("=", "+", "-", "@") else c for c in row])
