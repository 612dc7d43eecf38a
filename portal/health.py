"""Health of the parts the portal needs.

The public ``/healthz`` says only whether everything is fine (:func:`is_healthy`);
``/healthz/detail`` (a token or a DPO) gets :func:`detail`: versions, the
database, the broker with each queue's length and oldest waiting task, the
workers by their heartbeats, and the face model as the workers loaded it,
with the SHA-256 of its files recorded at installation.

A queue counts as served only when a worker ran its heartbeat lately: beat
sends ``portal.heartbeat`` to every queue each ``WORKER_HEARTBEAT_SECONDS``
and the worker that runs it writes a :class:`~portal.models.WorkerHeartbeat`.
A reachable broker with no worker behind it is therefore "down". Workers
load the face model's weights when they start (:func:`load_face_model`), and
each heartbeat reports how that went.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from portal.celery import app
from portal.models import WorkerHeartbeat
from search.backends import BackendUnavailable, get_backend
from search.model_pack import files_match, recorded_hashes

logger = logging.getLogger(__name__)

# Filled by load_face_model() in a worker's main process (its pool children
# inherit it): the face model as this worker loaded it at start.
WORKER_FACE_MODEL: dict = {}


# -- the parts --------------------------------------------------------------------


def database_status() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server_version = cursor.fetchone()[0]
            cursor.execute("SELECT current_database()")
            name = cursor.fetchone()[0]
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - a probe reports, it does not raise
        return {"ok": False, "error": type(exc).__name__}
    return {
        "ok": bool(row),
        "name": name,
        "server_version": server_version,
        "pgvector": row[0] if row else None,
    }


def broker_status() -> dict:
    """Reachable or not, and per queue: messages waiting and how long the
    oldest has waited (where the broker lets us read it without taking it)."""
    transport = app.conf.broker_url.split(":", 1)[0]
    queues = {}
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            channel = conn.default_channel
            for queue in settings.CELERY_QUEUES_CONSUMED:
                queues[queue] = {"waiting": _waiting(channel, queue),
                                 "oldest_waiting_seconds": _safely_oldest(channel, queue)}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "transport": transport, "error": type(exc).__name__}
    return {"ok": True, "transport": transport, "queues": queues}


def _waiting(channel, queue: str) -> int | None:
    try:
        return channel.queue_declare(queue=queue, passive=True).message_count
    except Exception:  # noqa: BLE001 - a queue never declared has nothing waiting
        return 0


def _safely_oldest(channel, queue: str) -> float | None:
    try:
        return _oldest_waiting(channel, queue)
    except Exception:  # noqa: BLE001 - an unreadable message says nothing about its age
        return None


def _oldest_waiting(channel, queue: str) -> float | None:
    """Seconds the oldest message of ``queue`` has waited: read from the
    embedded broker's table or from the tail of a Redis list (every task is
    stamped with ``sent_at`` when published, see portal/celery.py); None on
    brokers that cannot show a message without delivering it (RabbitMQ)."""
    if hasattr(channel, "message_cls"):  # kombu's SQLAlchemy transport (the embedded one)
        message = channel.message_cls
        oldest = (channel.session.query(message.payload).join(channel.queue_cls)
                  .filter(channel.queue_cls.name == queue, message.visible.is_(True))
                  .order_by(message.id).first())
        channel.session.rollback()
        raw = oldest[0] if oldest else None
    elif hasattr(channel, "client") and hasattr(channel.client, "lindex"):  # Redis
        raw = channel.client.lindex(queue, -1)
    else:
        return None
    if raw is None:
        return 0.0
    sent_at = json.loads(raw).get("headers", {}).get("sent_at")
    return round(max(0.0, time.time() - float(sent_at)), 1) if sent_at else None


def worker_status() -> dict:
    """Per queue: the last heartbeat a worker ran, and whether it is recent."""
    stale_after = 3 * settings.WORKER_HEARTBEAT_SECONDS
    beats = {beat.queue: beat for beat in WorkerHeartbeat.objects.all()}
    now = timezone.now()
    queues = {}
    for queue in settings.CELERY_QUEUES_CONSUMED:
        beat = beats.get(queue)
        if beat is None:
            queues[queue] = {"ok": False, "last_heartbeat_seconds_ago": None, "worker": None}
            continue
        age = (now - beat.ran_at).total_seconds()
        queues[queue] = {"ok": age <= stale_after, "last_heartbeat_seconds_ago": round(age, 1),
                         "worker": beat.worker, "heartbeat_waited_seconds": beat.waited_seconds}
    return {"ok": all(q["ok"] for q in queues.values()), "down_after_seconds": stale_after,
            "queues": queues}


def face_model_status() -> dict:
    """The configured model, its thresholds, the hashes recorded at its
    installation, and whether the workers that run searches loaded it."""
    name = settings.FACE_BACKEND
    status = {"name": name}
    try:
        backend = get_backend(name)
        thresholds = backend.thresholds()
    except Exception as exc:  # noqa: BLE001
        return {**status, "ok": False, "problem": type(exc).__name__}
    status.update(dimension=backend.dimension, metric=backend.metric,
                  match_threshold=thresholds.match, possible_threshold=thresholds.possible,
                  thresholds_from=thresholds.source)
    if name == "insightface":
        status["files"] = recorded_hashes(settings.INSIGHTFACE_MODEL_DIR)
    # Every worker loads the model at start; the latest heartbeat tells.
    beat = (WorkerHeartbeat.objects.filter(queue__in=settings.CELERY_QUEUES_CONSUMED)
            .order_by("-ran_at").first())
    if beat is None:
        return {**status, "ok": False, "loaded_by_worker": None}
    status["loaded_by_worker"] = {
        "worker": beat.worker, "model": beat.face_model, "loaded": beat.face_model_loaded,
        "problem": beat.face_model_problem, "files_match_record": beat.face_model_files_match,
    }
    status["ok"] = (beat.face_model == name and beat.face_model_loaded
                    and beat.face_model_files_match is not False)
    return status


def versions() -> dict:
    found = {"python": platform.python_version()}
    for package in ("face-rights-portal", "Django", "celery", "djangorestframework",
                    "insightface", "onnxruntime", "dlib-bin"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def _safely(part) -> dict:
    """A part that cannot even be asked (the database is down, say) is down."""
    try:
        return part()
    except Exception as exc:  # noqa: BLE001 - a probe reports, it does not raise
        return {"ok": False, "error": type(exc).__name__}


def detail() -> dict:
    database = database_status()
    parts = {
        "database": database,
        "broker": broker_status(),
        "workers": _safely(worker_status),
        "face_model": _safely(face_model_status),
    }
    ok = all(part["ok"] for part in parts.values())
    return {"status": "ok" if ok else "down", **parts,
            "versions": {**versions(), "postgresql": database.get("server_version"),
                         "pgvector": database.get("pgvector")}}


def is_healthy() -> bool:
    return detail()["status"] == "ok"


# -- the worker's side -----------------------------------------------------------


def load_face_model() -> dict:
    """Load the configured face model's weights now (at a worker's start),
    and check its files against the hashes recorded at installation."""
    name = settings.FACE_BACKEND
    began = time.monotonic()
    state = {"model": name, "loaded": False, "problem": "", "files_match": None}
    try:
        get_backend(name).load()
        if name == "insightface":
            state["files_match"] = files_match(settings.INSIGHTFACE_MODEL_DIR)
    except BackendUnavailable as exc:
        state["problem"] = str(exc)[:300]
    except Exception as exc:  # noqa: BLE001 - the worker still serves the other queues
        state["problem"] = type(exc).__name__
    else:
        state["loaded"] = True
    if state["loaded"]:
        logger.info("face model %s loaded in %.1f s", name, time.monotonic() - began)
    else:
        logger.error("face model %s not loaded: %s", name, state["problem"])
    WORKER_FACE_MODEL.clear()
    WORKER_FACE_MODEL.update(state)
    return state


def record_heartbeat(queue: str, *, worker: str, sent_at: float | None) -> None:
    face = WORKER_FACE_MODEL or {"model": "", "loaded": False,
                                 "problem": "not loaded at start", "files_match": None}
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(queue=queue, defaults={
        "worker": worker, "ran_at": now,
        "waited_seconds": round(max(0.0, now.timestamp() - sent_at), 3) if sent_at else None,
        "face_model": face["model"], "face_model_loaded": face["loaded"],
        "face_model_problem": face["problem"], "face_model_files_match": face["files_match"],
    })


def send_heartbeats() -> None:
    """What beat does every WORKER_HEARTBEAT_SECONDS (for tests and probes)."""
    for queue in settings.CELERY_QUEUES_CONSUMED:
        app.send_task("portal.heartbeat", args=[queue], queue=queue,
                      expires=3 * settings.WORKER_HEARTBEAT_SECONDS)
