"""One process of a start-up race on the database broker, for
tests/portal/test_broker_start.py: importable by a spawned process without
Django's apps (what a worker or beat does first, nothing more)."""

from __future__ import annotations

import os


def open_broker_at_once(url: str, queues: list[str], barrier, results) -> None:
    """Wait for the other processes, then open the broker, declare the
    queues and publish one message, as a worker or beat does at its start."""
    from kombu import Connection

    import portal.celery  # noqa: F401 - registers the portal's transport

    barrier.wait(timeout=60)
    try:
        with Connection(url) as conn:
            channel = conn.default_channel
            for queue in queues:
                channel.queue_declare(queue=queue)
            conn.SimpleQueue("default").put({"from": os.getpid()})
        results.put("started")
    except Exception as error:  # noqa: BLE001 - the parent reports it
        results.put(f"{type(error).__name__}: {str(error).splitlines()[0]}")
