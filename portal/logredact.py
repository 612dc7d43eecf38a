"""Log lines without the secrets that request paths carry.

A request's pages are opened by an access token in the path
(``/r/FR-XXXX-XXXX-XXXX.<mac>/``), confirmation, download and Art. 19
acknowledgement links by signed tokens (``/verify/<token>/``,
``/package/<token>/``, ``/acknowledge/<token>/``). Whatever writes a path
to the log (Django's request logger on a 404 or a 500, the development
server, a Celery worker), this formatter cuts the tokens out of the whole
line, traceback included: a request's reference stays, so the line can
still be traced. Celery replaces the root logger's handlers in its
processes; :func:`redact_handlers` puts the cut back on theirs.
"""

from __future__ import annotations

import logging
import re

#: The first segment of every path whose second segment is a token
#: (tests/portal/test_log_redaction.py checks it against the URL patterns).
TOKEN_PREFIXES = ("r", "verify", "package", "acknowledge")
_TOKEN_PATH = re.compile(
    r"(?P<prefix>/(?:" + "|".join(TOKEN_PREFIXES) + r")/)(?P<token>[^/\s?#\"'<>]+)")
_REFERENCE = re.compile(r"^FR-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
#: What stands in for a token.
CUT = "[token]"


def redact(text: str) -> str:
    def cut(found: re.Match) -> str:
        prefix, token = found.group("prefix"), found.group("token")
        if prefix == "/r/":
            reference = _REFERENCE.match(token)
            if reference:
                return f"{prefix}{reference.group(0)}.{CUT}"
        return f"{prefix}{CUT}"

    return _TOKEN_PATH.sub(cut, text)


class RedactingFormatter(logging.Formatter):
    """A formatter whose every line has its path tokens cut out."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _Redacting(logging.Formatter):
    """Another formatter's lines, with the tokens cut out."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def redact_handlers(logger: logging.Logger) -> None:
    """Make every handler of ``logger`` cut tokens, keeping its format
    (Celery's ``after_setup_logger`` signals call this in each worker)."""
    for handler in logger.handlers:
        if not isinstance(handler.formatter, RedactingFormatter | _Redacting):
            handler.setFormatter(_Redacting(handler.formatter))
