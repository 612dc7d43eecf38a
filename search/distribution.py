"""The face index on a Citus cluster (``manage.py distribute_face_index``).

Run once on a Citus coordinator after ``migrate`` (docs/scaling.md):

- ``search_face`` gets the primary key ``(photo_id, id)``: Citus needs every
  unique key of a distributed table to include its distribution column.
  Django still addresses a face by its id alone.
- ``search_photo`` is distributed on its id in ``shards`` shards, and
  ``search_face`` on its photo id, colocated with it: a photo and its faces
  share a shard, so the photo-to-face foreign key holds on every shard and
  erasing a photo touches one shard.
- ``search_photosource`` (what refuses a duplicate photo) is distributed on
  its key, so its primary key refuses a duplicate across every shard.
- Every other table stays on the coordinator as it is: the rights requests
  and their matches, the customers, their searches and results, the
  suppression list. Their links into the face table are kept by the
  application (``db_constraint=False``), since a table on the coordinator
  cannot hold a foreign key to a distributed one.

No table is made a reference table (a copy on every worker): that is for
small tables that distributed tables point at or join on the workers, and
none does. The face and photo tables point only at each other.

Citus cannot change the shard count afterwards: ``alter_distributed_table``
refuses tables with identity columns, which Django's ``BigAutoField`` makes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

#: (table, distribution column, colocated with), in the order they are
#: distributed: a referenced table before the table that points at it.
TABLES = [
    ("search_photo", "id", None),
    ("search_face", "photo_id", "search_photo"),
    ("search_photosource", "key", None),
]
FACE_PRIMARY_KEY = ("photo_id", "id")


class DistributionRefused(Exception):
    """Why the face index cannot be distributed here, in a sentence."""


@dataclass
class Distribution:
    shards: int
    steps: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.steps)


def citus_version(cursor) -> str | None:
    cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'citus'")
    row = cursor.fetchone()
    return row[0] if row else None


def distributed_tables(cursor) -> dict[str, int]:
    """Distributed table -> its shard count."""
    cursor.execute("SELECT table_name::text, shard_count FROM citus_tables "
                   "WHERE citus_table_type = 'distributed'")
    return dict(cursor.fetchall())


def _primary_key(cursor, table: str) -> tuple[str, tuple[str, ...]]:
    cursor.execute(
        "SELECT c.conname, array_agg(a.attname::text ORDER BY k.ordinality)"
        " FROM pg_constraint c"
        " CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ordinality)"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum"
        " WHERE c.conrelid = %s::regclass AND c.contype = 'p' GROUP BY c.conname",
        [table],
    )
    name, columns = cursor.fetchone()
    return name, tuple(columns)


def _foreign_keys_into(cursor, table: str) -> list[str]:
    cursor.execute("SELECT conrelid::regclass::text || '.' || conname FROM pg_constraint"
                   " WHERE confrelid = %s::regclass AND contype = 'f'"
                   " AND conrelid <> confrelid ORDER BY 1", [table])
    return [row[0] for row in cursor.fetchall()]


def worker_problem(workers: list[tuple[str, int]], reached: list[tuple[str, int, bool, str]],
                   vector: list[tuple[str, int, bool, str]], database: str) -> str | None:
    """What keeps the workers from holding the face index, in one sentence
    (``None`` if nothing): ``workers`` as ``citus_get_active_worker_nodes()``
    gives them in this database, ``reached`` and ``vector`` as
    ``run_command_on_workers`` answers ``SELECT 1`` and the ``vector``
    extension's version on each."""
    if not workers:
        return (f"This Citus coordinator has no workers in the database {database}: run "
                f"citus_set_coordinator_host and citus_add_node for each worker in this "
                f"database (node membership is per database). Nothing was changed.")
    for host, port, success, result in reached:
        if not success:
            reason = " ".join(str(result).split())
            return (f"The worker {host}:{port} cannot be reached from the database {database} "
                    f"({reason}); the database must exist on every worker with the citus "
                    f"extension in it. Nothing was changed.")
    for host, port, success, result in vector:
        if not success or not result:
            return (f"The worker {host}:{port} has no vector extension in the database "
                    f"{database}: install pgvector there and run migrate on the coordinator "
                    f"again (it creates the extension on every worker). Nothing was changed.")
    return None


def _worker_problem(cursor) -> str | None:
    cursor.execute("SELECT current_database()")
    database = cursor.fetchone()[0]
    cursor.execute("SELECT node_name::text, node_port FROM citus_get_active_worker_nodes()"
                   " ORDER BY 1, 2")
    workers = cursor.fetchall()
    runs = []
    for command in ("SELECT 1",
                    "SELECT extversion FROM pg_extension WHERE extname = 'vector'"):
        if not workers:
            runs.append([])
            continue
        cursor.execute("SELECT nodename::text, nodeport, success, result"
                       " FROM run_command_on_workers(%s) ORDER BY 1, 2", [command])
        runs.append(cursor.fetchall())
    return worker_problem(workers, runs[0], runs[1], database)


def distribute_face_index(shards: int) -> Distribution:
    """Distribute the face index in ``shards`` shards on a Citus coordinator.

    Idempotent: what is done already is left as it is, so a second run
    changes nothing. Raises :class:`DistributionRefused` (nothing changed)
    on a database without Citus, without workers in this database, with a
    worker it cannot reach or one without the ``vector`` extension, or for
    another shard count than the one the index already has."""
    if shards < 1:
        raise DistributionRefused("The shard count must be at least 1. Nothing was changed.")
    with connection.cursor() as cursor:
        if citus_version(cursor) is None:
            raise DistributionRefused(
                "This database has no Citus extension: the face index can only be distributed "
                "on a Citus coordinator (CREATE EXTENSION citus there first). Nothing was "
                "changed.")
        problem = _worker_problem(cursor)
        if problem:
            raise DistributionRefused(problem)
        done = distributed_tables(cursor)
        counts = {done[table] for table, _, _ in TABLES if table in done}
        if counts and counts != {shards}:
            raise DistributionRefused(
                f"The face index is already distributed in {max(counts)} shards, and the "
                f"shard count is fixed: Citus cannot change it for tables with identity "
                f"columns. Nothing was changed.")
        result = Distribution(shards=shards)
        name, columns = _primary_key(cursor, "search_face")
        if columns != FACE_PRIMARY_KEY:
            pointing = _foreign_keys_into(cursor, "search_face")
            if pointing:
                raise DistributionRefused(
                    f"Foreign keys still point at search_face ({', '.join(pointing)}); run "
                    f"migrate first. Nothing was changed.")
            cursor.execute(f"ALTER TABLE search_face DROP CONSTRAINT {name}, ADD CONSTRAINT"
                           f" search_face_pkey PRIMARY KEY ({', '.join(FACE_PRIMARY_KEY)})")
            result.steps.append("search_face: primary key (photo_id, id)")
        for table, column, colocated in TABLES:
            if table in done:
                continue
            if colocated:
                cursor.execute("SELECT create_distributed_table(%s, %s, colocate_with => %s)",
                               [table, column, colocated])
            else:
                cursor.execute("SELECT create_distributed_table(%s, %s, shard_count => %s)",
                               [table, column, shards])
            result.steps.append(f"{table}: distributed on {column} in {shards} shards"
                                + (f", colocated with {colocated}" if colocated else ""))
        # Rows that were there before stay behind in the coordinator's copy
        # of each table once Citus has copied them to the shards.
        for table, _, _ in reversed(TABLES):
            if table not in done:
                cursor.execute("SELECT truncate_local_data_after_distributing_table(%s)",
                               [table])
    return result
