"""Health of the parts the portal needs, for /healthz and the demo runner."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from portal.celery import app
from search.backends import get_backend


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
        "ok": True,
        "name": name,
        "server_version": server_version,
        "pgvector": row[0] if row else None,
    }


def broker_status() -> dict:
    transport = app.conf.broker_url.split(":", 1)[0]
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "transport": transport, "error": type(exc).__name__}
    return {"ok": True, "transport": transport}


def face_model_status() -> dict:
    name = settings.FACE_BACKEND
    try:
        backend = get_backend(name)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "name": name, "error": str(exc)}
    return {
        "ok": True,
        "name": backend.name,
        "dimension": backend.dimension,
        "metric": backend.metric,
        "match_threshold": backend.match_threshold,
        "possible_threshold": backend.possible_threshold,
    }


def overall_status() -> dict:
    database = database_status()
    broker = broker_status()
    face_model = face_model_status()
    ok = database["ok"] and bool(database.get("pgvector")) and broker["ok"] and face_model["ok"]
    return {
        "status": "ok" if ok else "degraded",
        "database": database,
        "pgvector": database.get("pgvector"),
        "broker": broker,
        "face_model": face_model,
    }
