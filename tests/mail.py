"""A real SMTP server (aiosmtpd) for tests where delivery is the point."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """What arrived at the server; the SMTP handler appends to it."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.refusing = False
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session, envelope):  # noqa: N802 - aiosmtpd API
        if self.refusing:
            return "451 Requested action aborted: try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address in m.get("To", "")]

    def wait_for(self, address: str, count: int = 1, timeout: float = 60,
                 subject_contains: str = "") -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.to(address) if subject_contains in m.get("Subject", "")]
            if len(found) >= count:
                return found
            time.sleep(0.2)
        subjects = [m.get("Subject") for m in self.to(address)]
        raise AssertionError(f"{count} message(s) for {address} with {subject_contains!r} did not "
                             f"arrive within {timeout}s; got: {subjects}")


def text_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def start_smtp_server() -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, inbox
