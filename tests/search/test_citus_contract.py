"""The Citus contract, checked on one node.

No Citus in any registry the suite installs from, so no cluster here: the
suite records every statement the search path, the exhaustive scan, the
access package and the erasure send (Django's ``execute_wrapper``: the ORM's
statements and the raw ones alike), and checks those that touch the face
tables (``search.distribution.TABLES``) against what Citus cannot run or
runs wrongly, and the schema against what ``create_distributed_table``
refuses. ``make citus-check`` runs the same paths on a real cluster
(docs/scaling.md).

Each rule is proved by a statement that breaks it: the single string
``SET LOCAL ...; SELECT ...`` that ``find_candidates`` sent before issue 38
first of all.
"""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest
from django.db import connection, transaction
from psycopg.pq import TransactionStatus

import search.matching as matching
from search.backends import get_backend
from search.distribution import TABLES
from search.imaging import load_image
from search.matching import find_all_candidates, find_candidates, nearest_faces_sql
from tests.conftest import FACES_DIR
from tests.subjects.scenario import carry_out_in_process, file_via_worker, seed_world

pytestmark = pytest.mark.django_db

DISTRIBUTED = {table for table, _, _ in TABLES}
DISTRIBUTION_COLUMN = {table: column for table, column, _ in TABLES}
COLOCATED_WITH = {table: colocated or table for table, _, colocated in TABLES}
TABLE_NAME = re.compile(r'(?<![\w."])"?(' + "|".join(sorted(DISTRIBUTED)) + r')"?(?![\w])')


@contextlib.contextmanager
def recorded():
    """Every statement string sent on Django's connection, as sent."""
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield statements


def _mask_quoted(sql: str) -> str:
    """``sql`` with the inside of every quoted literal blanked out (same
    length), so a ``;``, a parenthesis or a keyword inside a string is not
    taken for SQL."""
    return re.sub(r"'(?:[^']|'')*'", lambda m: "'" + " " * (len(m.group()) - 2) + "'", sql)


def statements_of(sql: str) -> list[str]:
    masked = _mask_quoted(sql)
    parts, start = [], 0
    for found in re.finditer(";", masked):
        parts.append(sql[start:found.start()])
        start = found.end()
    parts.append(sql[start:])
    return [part.strip() for part in parts if part.strip()]


def _groups(text: str):
    """Each parenthesized level of ``text`` (and the whole statement) as
    (its own text without its inner groups, the full text of its inner
    groups)."""
    stack = [[[], []]]  # own characters, inner text
    for char in text:
        if char == "(":
            stack.append([[], []])
        elif char == ")" and len(stack) > 1:
            own, inner = stack.pop()
            yield "".join(own), "".join(inner)
            stack[-1][1].append("(" + "".join(own) + "".join(inner) + ")")
            stack[-1][0].append(" ")
        else:
            stack[-1][0].append(char)
    own, inner = stack[0]
    yield "".join(own), "".join(inner)


def distributed_functions() -> set[str]:
    """Functions of the database (not of an extension) whose body reads a
    face table: a call to one runs a distributed query inside a function."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proname, p.prosrc FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass"
            " AND d.objid = p.oid AND d.deptype = 'e')")
        return {name for name, source in cursor.fetchall() if TABLE_NAME.search(source or "")}


def violations(strings: list[str], functions: set[str] | None = None) -> list[str]:
    """What Citus cannot run, or runs wrongly, among ``strings`` (each as
    sent), one sentence each."""
    functions = distributed_functions() if functions is None else functions
    calls = re.compile(r"\b(" + "|".join(map(re.escape, sorted(functions))) + r")\s*\(",
                       re.IGNORECASE) if functions else None
    found = []
    for sql in strings:
        masked = _mask_quoted(sql)
        statements = statements_of(masked)
        touches = bool(TABLE_NAME.search(masked))
        sets = [s for s in statements if re.match(r"(?i)(SET|RESET)\b", s)]
        if len(statements) > 1 and touches:
            found.append(f"More than one statement in one string that touches a face table "
                         f"(Citus replays a propagated SET's whole string on every worker): "
                         f"{sql[:160]}")
        elif sets and len(sets) < len(statements):
            found.append(f"A SET sent in one string with other statements (Citus replays the "
                         f"whole string on every worker): {sql[:160]}")
        for statement in statements:
            if calls and calls.search(statement):
                found.append(f"A function that reads a face table is called (Citus refuses a "
                             f"distributed query inside a function pushed to a shard): "
                             f"{sql[:160]}")
            if not TABLE_NAME.search(statement):
                continue
            for own, inner in _groups(statement):
                limited = re.search(r"(?i)\bLIMIT\b", own) and re.search(r"(?i)\bORDER\s+BY\b",
                                                                         own)
                if limited and not TABLE_NAME.search(own) and TABLE_NAME.search(inner):
                    found.append(f"A CTE or subquery collects the face table's rows before the "
                                 f"ORDER BY ... LIMIT (Citus cannot push it to the shards): "
                                 f"{sql[:160]}")
    return found


def schema_violations() -> list[str]:
    """What ``create_distributed_table`` refuses in the schema: a unique
    key of a face table without its distribution column (the face table's
    own primary key excepted: ``distribute_face_index`` replaces it), a
    foreign key into or out of a face table other than between colocated
    tables on their distribution columns, a trigger on a face table."""
    found = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname::text, i.indexrelid::regclass::text, i.indisprimary,"
            " array(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid"
            " AND a.attnum = ANY(i.indkey))"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
            " WHERE i.indisunique AND c.relname = ANY(%s)", [sorted(DISTRIBUTED)])
        for table, index, primary, columns in cursor.fetchall():
            if primary and table == "search_face":
                continue
            if DISTRIBUTION_COLUMN[table] not in columns:
                found.append(f"Unique index {index} on {table} lacks its distribution column "
                             f"{DISTRIBUTION_COLUMN[table]}.")
        cursor.execute(
            "SELECT conname::text, conrelid::regclass::text, confrelid::regclass::text,"
            " array(SELECT attname::text FROM pg_attribute WHERE attrelid = conrelid"
            " AND attnum = ANY(conkey)),"
            " array(SELECT attname::text FROM pg_attribute WHERE attrelid = confrelid"
            " AND attnum = ANY(confkey))"
            " FROM pg_constraint WHERE contype = 'f'"
            " AND (conrelid::regclass::text = ANY(%s) OR confrelid::regclass::text = ANY(%s))",
            [sorted(DISTRIBUTED), sorted(DISTRIBUTED)])
        for name, source, target, columns, target_columns in cursor.fetchall():
            if not (source in DISTRIBUTED and target in DISTRIBUTED
                    and COLOCATED_WITH[source] == COLOCATED_WITH[target]
                    and DISTRIBUTION_COLUMN[source] in columns
                    and DISTRIBUTION_COLUMN[target] in target_columns):
                found.append(f"Foreign key {name} from {source} to {target} is not between "
                             f"colocated face tables on their distribution columns.")
        cursor.execute("SELECT tgname::text, tgrelid::regclass::text FROM pg_trigger"
                       " WHERE NOT tgisinternal AND tgrelid::regclass::text = ANY(%s)",
                       [sorted(DISTRIBUTED)])
        found += [f"Trigger {name} on {table}." for name, table in cursor.fetchall()]
    return found


def embedding_of(file_name: str):
    return get_backend("dlib").detect(load_image(FACES_DIR / file_name))[0].embedding


def face_table_statements(strings: list[str]) -> list[str]:
    return [sql for sql in strings if TABLE_NAME.search(_mask_quoted(sql))]


# The shipped paths.


def test_the_search_access_and_erasure_send_only_what_citus_runs(settings):
    settings.CONTROLLER_REPRESENTATIVE = "EU Rep Ltd., Rue Haute 5, 1000 Brussels; eu@example.eu"
    seed_world("-citus")
    with recorded() as strings:
        obama = embedding_of("obama_2.jpg")
        # The search path: the operators' search and a citizen's, restricted
        # faces in and out, in a transaction of the caller and nested in
        # another (outside any: the transactional test below).
        assert find_candidates(obama, model="dlib")
        find_candidates(obama, model="dlib", include_restricted=True, limit=10)
        with transaction.atomic():
            find_candidates(obama, model="dlib")
        # The exhaustive scan, then a request's whole journey: the selfie
        # search, the access package and the erasure.
        assert find_all_candidates(obama, model="dlib")
        request = file_via_worker("citus@example.org", kinds=["access", "erasure"],
                                  in_process=True)
        request = carry_out_in_process(request)
    assert request.state == "completed"
    assert not find_all_candidates(obama, model="dlib", threshold=0.6)
    touching = face_table_statements(strings)
    # The paths were recorded: the index search, the exhaustive scan, the
    # erasure's deletes.
    assert any("ORDER BY" in sql and "LIMIT" in sql and "search_face" in sql for sql in touching)
    assert any("enable_indexscan" in sql for sql in strings)
    assert any(sql.lstrip().upper().startswith("DELETE") for sql in touching)
    assert violations(strings) == []
    assert schema_violations() == []


# Each rule fails on what breaks it.


def _single_string(sql, params, limit, *, filtered):
    """``find_candidates``' settings and query as one string, as before
    issue 38 (Citus: "cannot execute a distributed query from a query on a
    shard"), with the query vector written out as text as it was then."""
    statements = matching.set_local_statements(matching._index_settings(limit, filtered=filtered))
    vector = np.frombuffer(params["vector"].data, dtype=">f4", offset=4)
    with connection.cursor() as cursor:
        cursor.execute("; ".join([*statements, sql]),
                       {**params, "vector": matching.vector_literal(vector)})
        for _ in statements:
            cursor.nextset()
        return cursor.fetchall()


def test_the_single_string_of_set_local_and_select_fails_the_contract(monkeypatch):
    with recorded() as fixed:
        find_candidates([0.0] * 128, model="dlib")
    assert violations(fixed) == []
    monkeypatch.setattr(matching, "_settings_then_query", _single_string)
    with recorded() as broken:
        find_candidates([0.0] * 128, model="dlib")
    [problem] = violations(broken)
    assert problem.startswith("More than one statement in one string")
    assert "SET LOCAL citus.propagate_set_commands" in problem


def test_a_set_sent_with_another_statement_fails_the_contract():
    assert violations(["SET LOCAL enable_seqscan = 'off'; SELECT 1"]) != []
    assert violations(["SET LOCAL citus.propagate_set_commands = 'local';"
                       " SET LOCAL enable_seqscan = 'off'"]) == []


def test_rows_collected_before_the_order_by_limit_fail_the_contract():
    search = nearest_faces_sql(get_backend("dlib"), include_restricted=True)
    assert violations([search], set()) == []
    # Issue 21's shape: a materialized CTE, then the ORDER BY ... LIMIT.
    cte = ("WITH near AS MATERIALIZED (SELECT f.id, f.embedding <-> %s AS distance"
           " FROM search_face f WHERE f.model = %s) SELECT * FROM near ORDER BY distance LIMIT 10")
    subquery = ("SELECT * FROM (SELECT f.id, f.embedding <-> %s AS distance FROM search_face f)"
                " AS s ORDER BY distance LIMIT 10")
    for sql in (cte, subquery):
        [problem] = violations([sql], set())
        assert problem.startswith("A CTE or subquery collects")
    # A string literal is not SQL.
    assert violations(["SELECT 'search_face; (SELECT 1) ORDER BY x LIMIT 1'"], set()) == []


def test_a_function_reading_the_face_table_fails_the_contract():
    with connection.cursor() as cursor:
        cursor.execute("CREATE FUNCTION contract_nearest(q vector) RETURNS SETOF bigint"
                       " LANGUAGE sql AS $$ SELECT id FROM search_face"
                       " ORDER BY embedding <-> q LIMIT 10 $$")
    assert "contract_nearest" in distributed_functions()
    with recorded() as strings, connection.cursor() as cursor:
        cursor.execute("SELECT contract_nearest(%s::vector)", [matching.vector_literal([0] * 128)])
    [problem] = violations(strings)
    assert problem.startswith("A function that reads a face table is called")


def test_a_key_citus_refuses_fails_the_contract():
    assert schema_violations() == []
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE contract_note (face_id bigint REFERENCES search_face (id))")
        cursor.execute("CREATE UNIQUE INDEX contract_sha ON search_photo (sha256, source_url)")
    problems = schema_violations()
    assert len(problems) == 2
    assert any(p.startswith("Foreign key") and "contract_note" in p for p in problems)
    assert any(p.startswith("Unique index contract_sha") for p in problems)


# The transaction the settings live in, on both paths.


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_search_sends_begin_settings_query_commit_and_leaves_nothing():
    assert not connection.in_atomic_block
    with recorded() as strings:
        find_candidates([0.0] * 128, model="dlib", limit=10)
    begin, *settings, query, commit = strings
    assert (begin, commit) == ("BEGIN", "COMMIT")
    assert all(statements_of(s) == [s] and s.startswith("SET LOCAL ") for s in settings)
    assert statements_of(query) == [query] and "search_face" in query
    assert violations(strings) == []
    assert connection.connection.info.transaction_status == TransactionStatus.IDLE
    assert (_setting("enable_seqscan"), _setting("hnsw.ef_search")) == ("on", "40")
    # A failing query (a vector of the wrong dimension) ends its transaction.
    with pytest.raises(Exception, match="dimensions"):
        find_candidates([0.0] * 3, model="dlib")
    assert connection.connection.info.transaction_status == TransactionStatus.IDLE
    assert _setting("enable_seqscan") == "on"
    assert find_candidates([0.0] * 128, model="dlib") == []


def test_inside_a_transaction_the_search_sets_its_settings_back():
    assert connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '7MB'")
    with recorded() as strings:
        find_candidates([0.0] * 128, model="dlib", limit=10)
    assert "BEGIN" not in strings and "COMMIT" not in strings
    query = next(s for s in strings if "search_face" in s)
    before, after = strings[:strings.index(query)], strings[strings.index(query) + 1:]
    assert all(s.startswith("SET LOCAL ") and not s.endswith(" TO DEFAULT") for s in before)
    assert after and all(s.endswith(" TO DEFAULT") for s in after)
    assert violations(strings) == []
    assert (_setting("enable_seqscan"), _setting("hnsw.ef_search")) == ("on", "40")
    assert _setting("work_mem") == "7MB"


@pytest.mark.django_db(transaction=True)
def test_a_search_that_opens_the_callers_transaction_leaves_it_open_and_sets_its_settings_back():
    with transaction.atomic():
        assert connection.connection.info.transaction_status == TransactionStatus.IDLE
        with recorded() as strings:
            assert find_candidates([0.0] * 128, model="dlib", limit=10) == []
        # psycopg opened the transaction with the first setting; the rest
        # followed it there.
        assert connection.connection.info.transaction_status == TransactionStatus.INTRANS
        assert "BEGIN" not in strings and "COMMIT" not in strings
        assert strings[0] == "SET LOCAL citus.propagate_set_commands = 'local'"
        assert strings[-1].endswith(" TO DEFAULT")
        assert violations(strings) == []
        assert (_setting("enable_seqscan"), _setting("hnsw.ef_search")) == ("on", "40")
    assert connection.connection.info.transaction_status == TransactionStatus.IDLE
