import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from search.calibration import calibrate, write_calibration


class Command(BaseCommand):
    help = "Calibrate a face model's match and possible thresholds on labelled photos."

    def add_arguments(self, parser):
        parser.add_argument("labels", type=Path, help="labels.csv beside the photos")
        parser.add_argument("--model", help="face model (default: FACE_BACKEND)")
        parser.add_argument("--dry-run", action="store_true", help="print, do not write")

    def handle(self, *args, labels, model, dry_run, **options):
        if not labels.is_file():
            raise CommandError(f"{labels} is not a file.", returncode=2)
        try:
            result = calibrate(labels, model=model)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        self.stdout.write(json.dumps(result, indent=2))
        if not dry_run:
            path = write_calibration(result)
            self.stderr.write(f"written to {path}")
