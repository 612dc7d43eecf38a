"""The application's database role: what the portal's processes may do when
the tables belong to another role (the one that runs ``migrate``).

Everything an application needs on every table and sequence of the schema,
except on the audit trail and the published audit heads (read and append
only: no UPDATE, DELETE or TRUNCATE, and no ownership, so no ALTER TABLE to
disable a trigger), the audit policy (read only), and the one database
function retention blanks reasons with (``subjects_purge_audit_reasons``,
which runs as the owner and checks the request itself)."""

from __future__ import annotations

from django.db import connection
from psycopg import sql

APPEND_ONLY = ("subjects_auditevent", "subjects_publishedaudithead")
READ_ONLY = ("subjects_auditpolicy",)
FUNCTIONS = ("subjects_purge_audit_reasons(bigint)",)


def grant_application_role(role: str, schema: str = "public") -> list[str]:
    """Grant ``role`` what the portal needs; returns the statements run.
    Run it as the tables' owner after every ``migrate`` (new tables)."""
    who, where = sql.Identifier(role), sql.Identifier(schema)
    statements = [
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(where, who),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
            where, who),
        sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
            where, who),
        sql.SQL("REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {} FROM {}").format(
            where, who),
    ]
    for table in APPEND_ONLY:
        statements.append(sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(
            sql.Identifier(table), who))
    for table in READ_ONLY:
        statements.append(sql.SQL("REVOKE INSERT, UPDATE, DELETE ON {} FROM {}").format(
            sql.Identifier(table), who))
    for function in FUNCTIONS:
        statements.append(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(
            sql.SQL(function), who))
    done = []
    with connection.cursor() as cursor:
        raw = cursor.connection
        for statement in statements:
            text = statement.as_string(raw)
            cursor.execute(text)
            done.append(text)
    return done
