from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from search.reembedding import reembed_photos


class Command(BaseCommand):
    help = "Embed the stored photos with another face model, so operators can switch models."

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True)

    def handle(self, *args, model, **options):
        try:
            report = reembed_photos(
                model=model,
                progress=lambda items, total: tqdm(items, total=total, desc="reembed",
                                                   disable=options["verbosity"] == 0),
            )
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        self.stdout.write(
            f"{report['photos']} photos embedded with {model}: {report['faces']} faces; "
            f"{report['suppressed']} suppressed faces left out; {len(report['skipped'])} skipped."
        )
        for skipped in report["skipped"]:
            self.stderr.write(f"skipped photo {skipped['photo_id']}: {skipped['reason']}")
