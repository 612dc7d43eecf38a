from django.core.management.base import BaseCommand
from tqdm import tqdm

from search.demo import seed_demo


class Command(BaseCommand):
    help = "Seed the demo data (real test photos, synthetic faces, customers, search log) once."

    def add_arguments(self, parser):
        parser.add_argument("--synthetic-faces", type=int, default=3000)

    def handle(self, *args, synthetic_faces, **options):
        summary = seed_demo(
            synthetic_faces=synthetic_faces,
            progress=lambda items, total, desc: tqdm(
                items, total=total, desc=f"seed {desc}", disable=options["verbosity"] == 0),
        )
        if summary is None:
            self.stdout.write("Demo data already seeded; keeping it.")
        else:
            self.stdout.write(
                "Demo data seeded: {photos} photos with {faces} faces, {synthetic_faces} synthetic "
                "faces (marked synthetic), {customers} customers, {searches} customer searches."
                .format(**summary)
            )
