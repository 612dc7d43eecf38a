from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from search.demo import seed_demo


class Command(BaseCommand):
    help = (
        "Seed the demo data once: real photos (from --photos, else FACE_SAMPLES_DIR when it "
        "exists, else the sample images of installed packages), synthetic faces, customers "
        "and a search log."
    )

    def add_arguments(self, parser):
        parser.add_argument("--synthetic-faces", type=int, default=3000)
        parser.add_argument(
            "--photos", type=Path, default=None, metavar="DIR",
            help="a folder of photos with a labels.csv (file, identity, left, top, width) "
                 "naming them, instead of FACE_SAMPLES_DIR",
        )

    def handle(self, *args, synthetic_faces, photos, **options):
        try:
            summary = seed_demo(
                synthetic_faces=synthetic_faces,
                photos_dir=photos.expanduser().resolve() if photos else None,
                progress=lambda items, total, desc: tqdm(
                    items, total=total, desc=f"seed {desc}", disable=options["verbosity"] == 0),
            )
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        if summary is None:
            self.stdout.write("Demo data already seeded; keeping it.")
        else:
            self.stdout.write(
                "Demo data seeded: {photos} photos with {faces} faces from {source}, "
                "{synthetic_faces} synthetic faces (marked synthetic), {customers} customers, "
                "{searches} customer searches.".format(**summary)
            )
