from django.apps import AppConfig
from django.conf import settings
from django.db import connections
from django.db.models.signals import post_migrate


def write_audit_policy(sender, using="default", **kwargs):
    """Every ``migrate`` writes PERSONAL_DATA_RETENTION_DAYS where the audit
    table's rules read it (migration 0014): the database then lets retention
    blank a closed request's reasons after that period, and not before."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT to_regclass('subjects_auditpolicy') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute("UPDATE subjects_auditpolicy SET reason_retention_days = %s "
                           "WHERE id = 1", [settings.PERSONAL_DATA_RETENTION_DAYS])


class SubjectsConfig(AppConfig):
    name = "subjects"
    verbose_name = "Data subjects and their requests"

    def ready(self):
        post_migrate.connect(write_audit_policy, sender=self,
                             dispatch_uid="subjects.write_audit_policy")
