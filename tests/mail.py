"""A real SMTP server (aiosmtpd) for tests where delivery is the point."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.waiting import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: How the server fails a command, for the fault tests: a reply to give, or
#: one of these two ways to drop the connection without one.
DROP = "drop"  # close the connection instead of answering
ACCEPT_THEN_DROP = "accept-then-drop"  # at DATA: keep the message, then drop

#: Replies of a refusing server, temporary and permanent.
TEMPORARY = "451 Requested action aborted: try again later"
PERMANENT = "554 Transaction failed"


class Inbox:
    """What arrived at the server; the SMTP handler appends to it.

    Faults: ``refusing`` answers every DATA with a 451; ``failing`` fails
    every DATA as it says (a reply, or ``DROP``); ``fail_next(stage, how)``
    fails the next MAIL, RCPT or DATA once; ``fail_first_attempt`` fails the
    first DATA of every message (told apart by its Message-ID)."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.refusing = False
        self.failing = ""
        self.fail_first_attempt = ""
        self._failures: dict[str, list[str]] = {}
        self._first_seen: set[str] = set()
        self._lock = threading.Lock()

    def fail_next(self, stage: str, how: str) -> None:
        with self._lock:
            self._failures.setdefault(stage, []).append(how)

    def _failure(self, stage: str) -> str:
        with self._lock:
            queued = self._failures.get(stage)
            return queued.pop(0) if queued else ""

    @staticmethod
    def _fail(server: SMTP, how: str) -> str:
        if how in (DROP, ACCEPT_THEN_DROP):
            server.transport.abort()
            return "421 closing"  # written nowhere: the connection is gone
        return how

    async def handle_MAIL(self, server: SMTP, session, envelope, address,  # noqa: N802
                          mail_options):
        how = self._failure("MAIL")
        if how:
            return self._fail(server, how)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session, envelope, address,  # noqa: N802
                          rcpt_options):
        how = self._failure("RCPT")
        if how:
            return self._fail(server, how)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session, envelope):  # noqa: N802 - aiosmtpd API
        if self.refusing:
            return TEMPORARY
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        how = self.failing or self._failure("DATA")
        with self._lock:
            if self.fail_first_attempt and message["Message-ID"] not in self._first_seen:
                self._first_seen.add(message["Message-ID"])
                how = how or self.fail_first_attempt
        if how and how != ACCEPT_THEN_DROP:
            return self._fail(server, how)
        with self._lock:
            self.messages.append(message)
        if how:
            return self._fail(server, how)
        return "250 Message accepted for delivery"

    def copies(self, message_id: str) -> int:
        with self._lock:
            return sum(1 for m in self.messages if m["Message-ID"] == message_id)

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address in m.get("To", "")]

    def wait_for(self, address: str, count: int = 1, timeout: float = 60,
                 subject_contains: str = "") -> list[EmailMessage]:
        def found() -> list[EmailMessage]:
            found = [m for m in self.to(address) if subject_contains in m.get("Subject", "")]
            return found if len(found) >= count else []

        return wait_until(found, timeout=timeout, interval=0.2, what=lambda: (
            f"{count} message(s) for {address} with {subject_contains!r} arriving (got: "
            f"{[m.get('Subject') for m in self.to(address)]})"))


def text_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def start_smtp_server() -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, inbox
