"""Art. 12(3) GDPR deadlines: one calendar month from receipt, extendable
once by up to two further months; time spent waiting for information asked
of the person does not count."""

from __future__ import annotations

import calendar
import datetime as dt

MAX_EXTENSION_MONTHS = 2


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
