"""Install the insightface model pack an operator downloaded (buffalo_l.zip).

    python manage.py install_face_models ~/Downloads/buffalo_l.zip
    python manage.py install_face_models ./buffalo_l/ --photo portrait.jpg

See search/model_pack.py for what is checked. The files' SHA-256 go to
SHA256SUMS in the model folder; the health detail reports them.
"""

from __future__ import annotations

from pathlib import Path

import insightface
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from search.model_pack import LICENCE_NOTE, PackRefused, install_pack

# A group photo that ships with the insightface package: real buffalo_l
# models find its faces, so the check needs no photo of the operator's.
PACKAGE_PHOTO = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"


class Command(BaseCommand):
    help = ("Check an insightface model pack (zip or folder) and install it into "
            "INSIGHTFACE_MODEL_DIR, recording its files' SHA-256.")

    def add_arguments(self, parser):
        parser.add_argument("pack", help="buffalo_l.zip as downloaded, or the unzipped folder")
        parser.add_argument("--photo", default=str(PACKAGE_PHOTO),
                            help="a photo with a face to try the models on "
                                 "(default: a sample image of the insightface package)")

    def handle(self, *args, pack, photo, **options):
        destination = Path(settings.INSIGHTFACE_MODEL_DIR)
        try:
            installed = install_pack(Path(pack), destination, photo=Path(photo),
                                     pinned=settings.INSIGHTFACE_PACK_SHA256)
        except PackRefused as refusal:
            raise CommandError(f"Not installed: {refusal}", returncode=2) from None
        self.stdout.write(f"Installed into {installed.folder} (SHA-256 in SHA256SUMS):")
        for name, digest in installed.hashes.items():
            self.stdout.write(f"  {digest}  {name}")
        self.stdout.write(f"Checked: both models load with buffalo_l's signatures, and they "
                          f"found {installed.faces_on_photo} face(s) on {Path(photo).name} with "
                          "a 512-value embedding.")
        if installed.replaced:
            self.stdout.write(f"The previous models were moved to {installed.replaced}.")
        self.stdout.write(
            "Next: FACE_BACKEND=insightface, restart the workers (they load the model at start), "
            "then `manage.py reembed --model insightface` and `manage.py calibrate_faces "
            "LABELS.csv --model insightface` on labelled photos of your own."
        )
        self.stdout.write(LICENCE_NOTE)
