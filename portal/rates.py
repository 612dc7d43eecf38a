"""A rate limit as settings write it: ``10/h``, ``3/15m``, ``600/m``, ``100/d``.

The one parser of rates, used by the settings readers (which fail loudly
on a bad one), the abuse limits and the API throttles.
"""

from __future__ import annotations

import dataclasses
import re

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])[a-z]*\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclasses.dataclass(frozen=True)
class Rate:
    limit: int
    window: int  # seconds

    @classmethod
    def parse(cls, text: str | Rate) -> Rate:
        """``"10/h"``, ``"3/15m"``, ``"600/min"``, ``"100/d"``; a Rate as is."""
        if isinstance(text, Rate):
            return text
        found = _RATE.match(text or "")
        if not found:
            raise ValueError(f"a rate looks like 10/h, 3/15m or 100/d, not {text!r}")
        count, multiple, unit = found.groups()
        return cls(int(count), int(multiple or 1) * _UNIT[unit])

    def __str__(self) -> str:
        for unit, seconds in sorted(_UNIT.items(), key=lambda item: -item[1]):
            if self.window % seconds == 0:
                multiple = self.window // seconds
                return f"{self.limit}/{'' if multiple == 1 else multiple}{unit}"
        return f"{self.limit}/{self.window}s"  # pragma: no cover - every window is whole seconds
