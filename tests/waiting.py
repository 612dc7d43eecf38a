"""The one place where the tests let time pass.

A test never sleeps for a fixed time to wait for something (a row, a
message at the SMTP server, a log line, a process): under load the thing
takes longer than the sleep and the test fails for nothing, or the sleep
is long enough that the test passes without the thing ever happening.
It waits on the thing itself, with a timeout that fails with a sentence:

- :func:`wait_until` polls a condition and returns its first true value,
  or fails saying what did not happen;
- :func:`poll_for` polls a condition for at most a while and returns its
  value, true or not, for the rare test where "not within a few seconds" is
  itself a case to handle (not a failure);
- :func:`let_time_pass` is for the cases where time passing is the point,
  not something to wait for: a person who takes as long as a burst of the
  camera check takes, which the server measures on its own clock.

``make lint`` (tests/lint_waiting.py) refuses ``time.sleep`` anywhere else
in ``tests/``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: How long a person takes to show one pose of the camera check: the server
#: refuses a burst that arrives sooner after the pose was revealed.
BURST_SECONDS = 0.85


def wait_until(condition: Callable[[], T], *, timeout: float, what: str | Callable[[], str],
               interval: float = 0.1) -> T:
    """Poll ``condition`` until it returns something true, and return that.
    After ``timeout`` seconds, fail with ``what`` (or what it returns, when
    the sentence needs the state at that moment) "did not happen"."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            sentence = what() if callable(what) else what
            raise AssertionError(f"{sentence} did not happen within {timeout:.0f}s")
        time.sleep(interval)


def poll_for(condition: Callable[[], T], *, at_most: float, interval: float = 0.1) -> T:
    """Poll ``condition`` for at most ``at_most`` seconds; its last value,
    true or not. For a caller that goes on either way."""
    deadline = time.monotonic() + at_most
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def let_time_pass(seconds: float, *, why: str) -> None:
    """Let ``seconds`` pass on purpose, because the server measures them
    (``why`` says what it measures). Not for waiting on anything."""
    assert why, "say why time must pass"
    time.sleep(seconds)
