from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal import embedded_db


class Command(BaseCommand):
    help = "Status of the embedded PostgreSQL, or stop it (start happens on any command)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "stop", "uri"])

    def handle(self, *args, action, **options):
        server = settings.EMBEDDED_DATABASE
        if server is None:
            raise CommandError("DATABASE_URL is set: the embedded database is not in use.")
        if action == "status":
            running = embedded_db.is_running(settings.DATA_DIR)
            self.stdout.write(f"{'running' if running else 'stopped'} in {server.pgdata}")
        elif action == "uri":
            self.stdout.write(f"postgresql://postgres@/{embedded_db.DEFAULT_DATABASE}"
                              f"?host={server.socket_dir}")
        else:
            stopped = embedded_db.stop(settings.DATA_DIR)
            self.stdout.write("stopped" if stopped else "was not running")
