import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from search.backends import get_backend
from search.imaging import ImageError, load_image
from search.matching import find_candidates
from search.models import Face


class Command(BaseCommand):
    help = "List the faces in the index that match the face in IMAGE."

    def add_arguments(self, parser):
        parser.add_argument("image", type=Path)
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--largest", action="store_true",
                            help="use the largest face when the image holds several")
        parser.add_argument("--model", help="face model (default: FACE_BACKEND)")
        parser.add_argument("--limit", type=int, default=100)

    def handle(self, *args, image, largest, model, limit, **options):
        try:
            backend = get_backend(model)
            pixels = load_image(image)
        except (ImageError, ValueError) as exc:
            raise CommandError(f"{image.name}: {exc}", returncode=2) from exc
        except OSError as exc:
            raise CommandError(f"{image.name}: cannot be read ({exc.strerror}).",
                               returncode=2) from exc
        faces = backend.detect(pixels)
        if not faces:
            raise CommandError(f"{image.name}: no face found.", returncode=2)
        if len(faces) > 1 and not largest:
            raise CommandError(
                f"{image.name}: {len(faces)} faces found; use --largest to search the largest.",
                returncode=2,
            )
        candidates = find_candidates(
            faces[0].embedding, model=backend.name, include_restricted=True, limit=limit
        )
        rows = Face.objects.select_related("photo").in_bulk([c.face_id for c in candidates])
        results = [
            {
                "face_id": c.face_id,
                "photo_id": c.photo_id,
                "file_name": rows[c.face_id].photo.file_name,
                "source_url": rows[c.face_id].photo.source_url,
                "box": list(rows[c.face_id].box),
                "distance": round(c.distance, 4),
                "tier": str(c.tier),
                "restricted": c.restricted,
            }
            for c in candidates
        ]
        if options["json"]:
            self.stdout.write(json.dumps(results))
            return
        if not results:
            self.stdout.write("No matching face.")
        for r in results:
            self.stdout.write(f"{r['tier']:8} {r['distance']:.3f}  photo {r['photo_id']}  "
                              f"{r['source_url']}")
