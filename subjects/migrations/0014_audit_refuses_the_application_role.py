"""The audit trail against the application's own role (issue 32).

- ``TRUNCATE`` of the audit table (and of the published heads) is refused
  for everyone but the tables' owner; ``UPDATE`` and ``DELETE`` of a
  published head are refused for everyone, as they were for audit events.
- The one change the audit table accepts, blanking a free-text reason that
  keeps its digest, now also needs the event's request closed (completed,
  expired, rejected, withdrawn) longer ago than the retention period that
  ``subjects_auditpolicy`` holds (``PERSONAL_DATA_RETENTION_DAYS``, written
  there by every ``migrate``).
- ``subjects_purge_audit_reasons`` runs as the tables' owner (``SECURITY
  DEFINER``) and refuses a request that is not closed past its retention,
  so an application role with ``SELECT, INSERT`` on the audit table (see
  ``manage.py grant_app_role``) can blank what retention allows and nothing
  else. A role that owns the tables can still disable the triggers: the
  portal runs as another role in production (docs/operations.md).
"""

from django.conf import settings
from django.db import migrations

FINAL_STATES = "('completed', 'expired', 'rejected', 'withdrawn')"

FORWARD = f"""
CREATE TABLE subjects_auditpolicy (
    id smallint PRIMARY KEY CHECK (id = 1),
    reason_retention_days integer NOT NULL CHECK (reason_retention_days >= 0)
);

CREATE OR REPLACE FUNCTION subjects_audit_reason_purgeable(target_request bigint)
RETURNS boolean LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM subjects_rightsrequest r, subjects_auditpolicy p
         WHERE r.id = target_request AND r.state IN {FINAL_STATES}
           AND r.closed_at IS NOT NULL
           AND r.closed_at < now() - make_interval(days => p.reason_retention_days))
$$;

CREATE OR REPLACE FUNCTION subjects_audit_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    -- The one change allowed: a purged reason, its digest (and all else)
    -- kept, of a request closed past its retention.
    IF TG_OP = 'UPDATE' AND NEW.reason = '' AND OLD.reason_digest <> ''
       AND NEW.reason_digest = OLD.reason_digest
       AND NEW.id = OLD.id AND NEW.hash = OLD.hash AND NEW.previous_hash = OLD.previous_hash
       AND NEW.reference = OLD.reference AND NEW.at = OLD.at AND NEW.actor = OLD.actor
       AND NEW.action = OLD.action AND NEW.from_state = OLD.from_state
       AND NEW.to_state = OLD.to_state AND NEW.details = OLD.details
       AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id
       AND subjects_audit_reason_purgeable(OLD.request_id) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % of audit event % refused', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE FUNCTION subjects_refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID),
                   'USAGE') THEN
        RETURN NULL;  -- the owner (who could drop the trigger anyway)
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: TRUNCATE of % refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER subjects_audit_no_truncate BEFORE TRUNCATE ON subjects_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION subjects_refuse_truncate();

CREATE OR REPLACE FUNCTION subjects_heads_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'published audit heads are append-only: % of head % refused', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER subjects_heads_append_only BEFORE UPDATE OR DELETE ON subjects_publishedaudithead
    FOR EACH ROW EXECUTE FUNCTION subjects_heads_append_only();
CREATE TRIGGER subjects_heads_no_truncate BEFORE TRUNCATE ON subjects_publishedaudithead
    FOR EACH STATEMENT EXECUTE FUNCTION subjects_refuse_truncate();

CREATE OR REPLACE FUNCTION subjects_purge_audit_reasons(target_request bigint) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    blanked integer;
BEGIN
    IF NOT subjects_audit_reason_purgeable(target_request) THEN
        RAISE EXCEPTION 'the reasons of request % are kept: it is not closed past its retention',
            target_request USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE subjects_auditevent SET reason = ''
     WHERE request_id = target_request AND reason <> '' AND reason_digest <> '';
    GET DIAGNOSTICS blanked = ROW_COUNT;
    RETURN blanked;
END
$$;
REVOKE ALL ON FUNCTION subjects_purge_audit_reasons(bigint) FROM PUBLIC;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS subjects_heads_no_truncate ON subjects_publishedaudithead;
DROP TRIGGER IF EXISTS subjects_heads_append_only ON subjects_publishedaudithead;
DROP FUNCTION IF EXISTS subjects_heads_append_only();
DROP TRIGGER IF EXISTS subjects_audit_no_truncate ON subjects_auditevent;
DROP FUNCTION IF EXISTS subjects_refuse_truncate();
CREATE OR REPLACE FUNCTION subjects_purge_audit_reasons(target_request bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    blanked integer;
BEGIN
    UPDATE subjects_auditevent SET reason = ''
     WHERE request_id = target_request AND reason <> '' AND reason_digest <> '';
    GET DIAGNOSTICS blanked = ROW_COUNT;
    RETURN blanked;
END
$$;
CREATE OR REPLACE FUNCTION subjects_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.reason = '' AND OLD.reason_digest <> ''
       AND NEW.reason_digest = OLD.reason_digest
       AND NEW.id = OLD.id AND NEW.hash = OLD.hash AND NEW.previous_hash = OLD.previous_hash
       AND NEW.reference = OLD.reference AND NEW.at = OLD.at AND NEW.actor = OLD.actor
       AND NEW.action = OLD.action AND NEW.from_state = OLD.from_state
       AND NEW.to_state = OLD.to_state AND NEW.details = OLD.details
       AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % of audit event % refused', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP FUNCTION IF EXISTS subjects_audit_reason_purgeable(bigint);
DROP TABLE IF EXISTS subjects_auditpolicy;
"""


def write_policy(apps, schema_editor):
    schema_editor.execute(
        "INSERT INTO subjects_auditpolicy (id, reason_retention_days) VALUES (1, %s) "
        "ON CONFLICT (id) DO UPDATE SET reason_retention_days = EXCLUDED.reason_retention_days",
        [settings.PERSONAL_DATA_RETENTION_DAYS])


class Migration(migrations.Migration):

    dependencies = [
        ("subjects", "0013_state_counts_kept_by_triggers"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(write_policy, migrations.RunPython.noop),
    ]
