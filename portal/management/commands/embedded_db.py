from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from portal import embedded_db


class Command(BaseCommand):
    help = ("Status of the embedded PostgreSQL, or stop it (start happens on any command); "
            "stop-if-idle leaves it up while other programs use it; bin prints the folder of "
            "its pg_dump, pg_restore and psql.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "stop", "stop-if-idle", "uri", "bin"])

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
        elif action == "bin":  # pg_dump, pg_restore and psql of the embedded server
            self.stdout.write(str(embedded_db.bin_dir(settings.DATA_DIR)))
        elif action == "stop-if-idle":
            connection.close()
            others = embedded_db.stop_if_idle(server, settings.DATA_DIR)
            self.stdout.write(f"stays up: {others} other connection(s)" if others else "stopped")
        else:
            stopped = embedded_db.stop(settings.DATA_DIR)
            self.stdout.write("stopped" if stopped else "was not running")
