"""What every benchmark script shares: its own database, timing, results.

:func:`setup` must run before anything imports Django models. It points
the portal at a separate database (``bench_portal`` on the embedded
PostgreSQL, or ``BENCH_DATABASE_URL``), so a benchmark never touches the
demo's data or a test run's, and migrates it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BASE_DIR / "bench" / "results"
DEFAULT_DATABASE = "bench_portal"

_state: dict = {}


def with_shared_buffers(server, data_dir: Path, memory: str):
    """The embedded server with ``shared_buffers`` at ``memory`` (``BENCH_SHARED_BUFFERS``,
    2GB: the HNSW index of a million faces, 731 MiB, and the table's hot pages
    fit), set with ALTER SYSTEM and a restart; left as it is, and said so,
    while other programs use the server, or with ``memory`` empty."""
    import psycopg
    from psycopg import sql

    from portal import embedded_db

    if not memory:
        return server

    def run(statement, params=()):
        # A connection of its own each time, closed before the others are counted.
        with psycopg.connect(dbname="postgres", user="postgres", host=server.socket_dir,
                             autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchone() if cursor.description else None

    same, now = run("SELECT pg_size_bytes(current_setting('shared_buffers')) = "
                    "pg_size_bytes(%s), current_setting('shared_buffers')", [memory])
    if same:
        return server
    if embedded_db.other_connections(server):
        print(f"shared_buffers left at {now}: other programs use the embedded server",
              flush=True)
        return server
    run(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(sql.Literal(memory)))
    embedded_db.stop(data_dir)
    print(f"embedded server restarted with shared_buffers = {memory}", flush=True)
    return embedded_db.ensure_running(data_dir)


def setup() -> dict:
    """Configure and start Django on the benchmark database; idempotent.

    Returns ``{"database": name, "socket_dir": ..., "started_server": bool}``.
    """
    if _state:
        return _state
    sys.path.insert(0, str(BASE_DIR))
    # The settings refuse to start without DEBUG or a real SECRET_KEY; the
    # benchmark database holds nothing but synthetic rows.
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    data_dir = Path(os.environ.get("PORTAL_DATA_DIR", BASE_DIR / "var"))
    os.environ.setdefault("MEDIA_ROOT", str(data_dir / "bench-media"))
    url = os.environ.get("BENCH_DATABASE_URL")
    started = False
    socket_dir = None
    if url:
        name = url.rsplit("/", 1)[-1].split("?", 1)[0]
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("CELERY_BROKER_URL", "memory://")
        os.environ.setdefault("CELERY_RESULT_BACKEND", "cache+memory://")
    else:
        from portal import embedded_db

        name = os.environ.get("BENCH_DATABASE", DEFAULT_DATABASE)
        server = with_shared_buffers(embedded_db.ensure_running(data_dir), data_dir,
                                     os.environ.get("BENCH_SHARED_BUFFERS", "2GB"))
        embedded_db.ensure_database(server, name)
        started = server.started_here
        socket_dir = server.socket_dir
        # Always our own database, whatever DATABASE_URL the shell had.
        os.environ["DATABASE_URL"] = f"postgresql://postgres@/{name}?host={socket_dir}"
        os.environ["CELERY_BROKER_URL"] = server.sqlalchemy_url("portaldb+", name)
        os.environ["CELERY_RESULT_BACKEND"] = server.sqlalchemy_url("db+", name)
    # Benchmarks measure a held connection, as a web or Celery worker has.
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "600")

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    _state.update(database=name, socket_dir=socket_dir, started_server=started)
    return _state


# -- timing ------------------------------------------------------------------


def clock() -> float:
    return time.perf_counter()


def timed(function: Callable, *args, **kwargs) -> tuple[float, object]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(seconds: list[float]) -> dict:
    """p50, p95 and mean of a list of durations, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 4),
        "p95_ms": round(percentile(ms, 95), 4),
        "mean_ms": round(statistics.fmean(ms), 4) if ms else float("nan"),
    }


# -- the machine -------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict:
    """What the figures were measured on."""
    info = {
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "load_average": _load_average(),
    }
    try:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            info["postgresql"] = cursor.fetchone()[0]
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
            info["pgvector"] = row[0] if row else None
            cursor.execute("SHOW shared_buffers")
            info["shared_buffers"] = cursor.fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - a description, never a reason to fail
        info["database_error"] = str(exc)
    info["git_commit"] = git_commit()
    return info


def git_commit() -> str | None:
    """The commit the benchmark runs on (short), if git can tell."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=BASE_DIR, capture_output=True,
            text=True, timeout=10, check=False,
        ).stdout.strip() or None
    except OSError:
        return None


# -- results -----------------------------------------------------------------


def write_result(name: str, data: dict) -> Path:
    """Write ``bench/results/<name>.json`` (atomically) and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **data,
    }
    path = RESULTS_DIR / f"{name}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    temporary.replace(path)
    print(f"wrote {path.relative_to(BASE_DIR)}")
    return path


def read_result(name: str) -> dict | None:
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def heading(text: str) -> None:
    print(f"\n== {text} ==", flush=True)


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_sizes(name: str, default: list[int]) -> list[int]:
    """A comma-separated list of sizes such as ``10000,100000``."""
    value = os.environ.get(name)
    if not value:
        return default
    return [int(part) for part in value.replace("_", "").split(",") if part.strip()]
