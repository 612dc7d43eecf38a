"""The demo's outgoing e-mails, read back from the files Django's file
backend writes (``PORTAL_DATA_DIR/mail``), for the mailbox page that exists
only with DEBUG on (``/dev/mail/``)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from pathlib import Path

# Django's file backend ends every message with a line of 79 dashes.
_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


@dataclass(frozen=True)
class Mail:
    number: int
    subject: str
    to: str
    sent: str
    text: str


def read_mailbox(folder: Path, *, limit: int = 100) -> list[Mail]:
    """The newest ``limit`` messages, newest first."""
    folder = Path(folder)
    files = sorted(folder.glob("*.log"), key=lambda path: path.stat().st_mtime) \
        if folder.is_dir() else []
    raw = [part for path in files for part in path.read_bytes().split(_SEPARATOR)
           if part.strip()]
    mails = []
    for number, data in enumerate(raw, start=1):
        message = email.message_from_bytes(data.lstrip(b"\n"), policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",)) if message.is_multipart() else message
        mails.append(Mail(number=number, subject=str(message.get("Subject", "")),
                          to=str(message.get("To", "")), sent=str(message.get("Date", "")),
                          text=body.get_content() if body is not None else ""))
    return list(reversed(mails))[:limit]
