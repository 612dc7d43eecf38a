"""After restoring a backup: do again every erasure completed since it was taken.

    python manage.py reapply_erasures --since 2026-11-29T02:00:00+01:00

Reads the audit trail and the erasure journal (ERASURE_JOURNAL, a file the
restore leaves alone); see subjects/jobs/reapply.py and docs/operations.md.
Run it after the restore and before the web server and workers start.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from subjects.jobs.reapply import reapply


def moment(text: str) -> dt.datetime:
    """A date (its midnight, local time) or a date and time."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--since must be a date or date and time in ISO form, such as "
                           f"2026-11-29 or 2026-11-29T02:00:00+01:00, not {text!r}.") from None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


class Command(BaseCommand):
    help = "Do again every erasure and suppression completed since the restored backup was taken."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, type=moment,
                            help="when the restored backup was taken (ISO date or date-time); "
                                 "when in doubt, earlier")
        parser.add_argument("--journal", type=Path, default=None,
                            help="the erasure journal (default: ERASURE_JOURNAL)")

    def handle(self, *args, since, journal, **options):
        outcome = reapply(since, journal=journal)
        for problem in outcome.refused_lines:
            self.stderr.write(f"Ignored: {problem}.")
        for note in outcome.skipped:
            self.stderr.write(note)
        self.stdout.write(
            f"{outcome.erasures} erasure(s) completed since {since.isoformat()}: "
            f"{outcome.faces_erased} face(s) erased again, {outcome.photos_deleted} photo(s) "
            f"deleted and {outcome.photos_redacted} redacted again, {outcome.files_deleted} "
            f"restored file(s) deleted, {outcome.suppressions_restored} suppression "
            f"template(s) put back."
        )
        if outcome.refused_lines:
            raise CommandError("Some journal lines did not match their hash (see above): find "
                               "out why before the portal starts.", returncode=3)
