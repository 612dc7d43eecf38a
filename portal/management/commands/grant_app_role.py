"""Give the portal's own database role what it needs, and no more.

    manage.py grant_app_role portal_app    # as the owner of the tables, after migrate

See portal/roles.py for what is granted and what is held back."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction

from portal.roles import grant_application_role


class Command(BaseCommand):
    help = "Grant the application's database role its rights (run after migrate, as the owner)."

    def add_arguments(self, parser):
        parser.add_argument("role", help="The role the portal's processes connect as.")

    def handle(self, *args, role, **options):
        try:
            with transaction.atomic():
                done = grant_application_role(role)
        except DatabaseError as error:
            raise CommandError(f"Could not grant {role} its rights: "
                               f"{str(error).splitlines()[0]}") from None
        self.stdout.write(f"{role}: {len(done)} grants made; it may read and append to the "
                          "audit trail and the published heads, and change neither.")
