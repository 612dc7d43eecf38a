from django.apps import AppConfig
from django.db.models.signals import post_migrate


def create_broker_tables(sender, verbosity=1, **kwargs):
    """``migrate`` also creates the database broker's tables (and Celery's
    result tables), so no process races another to make them at its start."""
    import sys

    from django.conf import settings

    from portal import broker

    made = broker.ensure_tables(settings.CELERY_BROKER_URL, settings.CELERY_RESULT_BACKEND)
    if made and verbosity >= 1:
        stdout = kwargs.get("stdout") or sys.stdout
        stdout.write(f"  The database broker's tables are there ({', '.join(made)}).\n")


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from portal.middleware import stamp_login

        user_logged_in.connect(stamp_login, dispatch_uid="portal.stamp_login")
        post_migrate.connect(create_broker_tables, sender=self,
                             dispatch_uid="portal.create_broker_tables")
