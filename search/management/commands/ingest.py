import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from search.backends import get_backend
from search.ingestion import ingest_path


class Command(BaseCommand):
    help = "Ingest every image under PATH into the face index, as the crawler does."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--site", default="local", help="site the images came from")
        parser.add_argument("--source-url-prefix", help="URL that replaces PATH in source URLs")
        parser.add_argument("--model", help="face model (default: FACE_BACKEND)")
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--json", action="store_true", help="print one JSON summary")

    def handle(self, *args, path, site, source_url_prefix, model, batch_size, **options):
        if not path.exists():
            raise CommandError(f"{path} does not exist.", returncode=2)
        try:
            backend = get_backend(model)
            backend.load()
        except Exception as exc:  # noqa: BLE001 - an operator needs the sentence
            raise CommandError(str(exc), returncode=2) from exc

        def progress(files):
            return tqdm(files, desc="ingest", unit="photo", disable=options["verbosity"] == 0)

        report = ingest_path(
            path, site=site, source_url_prefix=source_url_prefix, model=backend.name,
            batch_size=batch_size, progress=progress,
        )
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        for skipped in report.skipped:
            self.stderr.write(f"skipped {skipped['file']}: {skipped['reason']}")
        self.stdout.write(
            f"{report.photos} photos and {report.faces} faces stored; {report.duplicates} already "
            f"there; {report.suppressed} suppressed faces left out; {len(report.skipped)} skipped."
        )
