"""The database broker: kombu's SQLAlchemy transport, made safe to start.

The demo's broker is the embedded PostgreSQL (and the tests' is a database
of their own). kombu creates its tables on a process's first connection,
without a lock: the worker and beat starting together on a database that
has never held them both ran ``CREATE SEQUENCE queue_id_sequence`` and the
loser died with a duplicate key on ``pg_class`` (issue 29). Here:

- :func:`ensure_tables` creates the broker's tables (and Celery's result
  tables when the results live in a database too) under a PostgreSQL
  advisory lock, idempotently. ``migrate`` and ``make demo`` call it before
  any process uses the broker.
- The transport does the same on a process's first connection (a lock, then
  ``CREATE ... IF NOT EXISTS`` in effect), and retries a start-up statement
  that lost a race instead of dying; two processes declaring the same queue
  at once no longer fail on the queue name's unique key either.
- It polls more often than kombu's default second: a second of latency per
  task would make the selfie search feel slow. Production brokers (Redis,
  RabbitMQ) push messages and use none of this.
"""

from __future__ import annotations

import logging
import threading
import time

from kombu.transport.sqlalchemy import Channel as SQLAlchemyChannel
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport
from kombu.transport.sqlalchemy import models as kombu_models
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import sessionmaker

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock's key for "creating the broker's tables": any 64-bit
# number the portal uses for nothing else ("brokertb" in ASCII).
TABLES_LOCK = 0x62726F6B65727462
# A start-up statement that lost a race is tried again this many times, with
# a growing pause (0.1 s, 0.2 s, ... 1 s), before the process gives up.
START_RETRIES = 8
_OPEN_LOCK = threading.Lock()

# URL prefixes of the database broker and of Celery's database result backend.
BROKER_PREFIXES = ("portaldb+", "sqla+", "sqlalchemy+")
RESULT_PREFIX = "db+"


def _retrying(what: str, step):
    """Run ``step()``; a database error (a race lost at start-up, the
    database restarting) is retried with a growing pause, then raised."""
    for attempt in range(START_RETRIES + 1):
        try:
            return step()
        except DBAPIError as error:
            if attempt == START_RETRIES:
                raise
            logger.warning("Broker: %s failed (%s), trying again (%d of %d).", what,
                           type(error.orig).__name__, attempt + 1, START_RETRIES)
            time.sleep(min(0.1 * (attempt + 1), 1.0))
    raise AssertionError("unreachable")


def _create_all(engine, metadata) -> None:
    """Create ``metadata``'s tables that are missing, one process at a time.

    On PostgreSQL the creation runs in one transaction holding an advisory
    lock: a second process waits for the first to commit, then finds the
    tables there. Other databases get the retry alone."""

    def step():
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": TABLES_LOCK})
            metadata.create_all(conn, checkfirst=True)

    _retrying("creating its tables", step)


def broker_metadata():
    """kombu's tables (with their default names, which the portal keeps):
    kombu declares them on its metadata when a channel first asks for them."""
    channel = SQLAlchemyChannel.__new__(SQLAlchemyChannel)
    channel._configure_entity_tablenames({})
    return kombu_models.metadata


def result_metadata():
    from celery.backends.database.models import ResultModelBase

    return ResultModelBase.metadata


def _sqlalchemy_url(url: str, prefixes: tuple[str, ...]) -> str | None:
    for prefix in prefixes:
        if url.startswith(prefix):
            return url[len(prefix):]
    return None


def ensure_tables(broker_url: str, result_backend: str | None = None) -> list[str]:
    """Create the database broker's tables and Celery's result tables where
    those live in a database; what is there already is left as it is.
    Returns what it looked after ("broker", "results"), empty for a Redis or
    RabbitMQ broker with another result backend."""
    done = []
    targets = [(_sqlalchemy_url(broker_url or "", BROKER_PREFIXES), broker_metadata, "broker"),
               (_sqlalchemy_url(result_backend or "", (RESULT_PREFIX,)), result_metadata,
                "results")]
    for url, metadata, name in targets:
        if url is None:
            continue
        engine = create_engine(url)
        try:
            _create_all(engine, metadata())
        finally:
            engine.dispose()
        done.append(name)
    return done


class Channel(SQLAlchemyChannel):
    def _open(self):
        hostname = self.connection.client.hostname
        if hostname not in self._engines:
            with _OPEN_LOCK:
                if hostname not in self._engines:
                    engine = self._engine_from_config()
                    _create_all(engine, kombu_models.metadata)
                    self._engines[hostname] = engine, sessionmaker(bind=engine)
        return self._engines[hostname]

    def _get_or_create(self, queue):
        # kombu inserts a queue's row when it finds none; two processes doing
        # so at once break the name's unique key: the loser reads the row.
        for attempt in range(START_RETRIES + 1):
            try:
                return super()._get_or_create(queue)
            except IntegrityError:
                self.session.rollback()
                if attempt == START_RETRIES:
                    raise
        raise AssertionError("unreachable")


class Transport(SQLAlchemyTransport):
    Channel = Channel
    polling_interval = 0.2
