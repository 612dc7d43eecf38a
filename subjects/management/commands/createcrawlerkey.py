"""Create (or revoke) the crawler's API key for the suppression check.

    manage.py createcrawlerkey main-crawler          # prints the key once
    manage.py createcrawlerkey main-crawler --revoke # every key of that name stops
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from subjects.dpo.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for the crawler (POST /api/v1/suppression/check only)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Which crawler the key is for.")
        parser.add_argument("--revoke", action="store_true",
                            help="Revoke the active keys of this name instead.")

    def handle(self, *args, name, revoke, **options):
        if revoke:
            count = ApiKey.objects.filter(name=name, purpose=ApiKey.Purpose.CRAWLER,
                                          revoked_at__isnull=True).update(
                                              revoked_at=timezone.now())
            self.stdout.write(f"Revoked {count} key(s) named {name}.")
            return
        _row, key = ApiKey.issue(name=name, purpose=ApiKey.Purpose.CRAWLER)
        self.stderr.write("The key is shown once; send it as: Authorization: Bearer KEY")
        self.stdout.write(key)
