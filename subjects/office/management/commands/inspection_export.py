"""manage.py inspection_export --from DAY --to DAY [--out FILE]: the signed
archive for the supervisory authority (subjects.office.inspection)."""

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from subjects.office import inspection
from subjects.office.forms import MAX_PERIOD_DAYS


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a day (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = "Write the signed inspection export for a period (both days included)."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="since", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="until", required=True, help="last day, YYYY-MM-DD")
        parser.add_argument("--out", help="the file to write (default: its own name, here)")
        parser.add_argument("--actor", default="command:inspection_export",
                            help="who asked, as the audit trail names them")

    def handle(self, *args, since, until, out, actor, **options):
        since, until = _day(since), _day(until)
        if since > until:
            raise CommandError("the period ends before it begins")
        if (until - since).days > MAX_PERIOD_DAYS:
            raise CommandError("the period can be at most ten years long")
        export = inspection.build_export(since=since, until=until, actor=actor)
        path = Path(out or export.file_name)
        path.write_bytes(export.data)
        self.stdout.write(f"{path}: {export.manifest['requests']} requests, "
                          f"{export.manifest['breaches']} breaches, "
                          f"{export.manifest['audit_heads']} audit heads, signed")
