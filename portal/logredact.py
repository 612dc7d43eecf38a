"""Log lines without the secrets that request paths carry.

A request's pages are opened by an access token in the path
(``/r/FR-XXXX-XXXX-XXXX.<mac>/``), confirmation and download links by signed
tokens (``/verify/<token>/``, ``/package/<token>/``). Whatever writes a path
to the log (Django's request logger on a 404 or a 500, the development
server), this formatter cuts the tokens out of the whole line, traceback
included: a request's reference stays, so the line can still be traced.
"""

from __future__ import annotations

import logging
import re

#: /r/<reference>.<mac>, /verify/<token>, /package/<token>.
_TOKEN_PATH = re.compile(
    r"(?P<prefix>/(?:r|verify|package)/)(?P<token>[^/\s?#\"'<>]+)")
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
