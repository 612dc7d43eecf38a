"""Measure the ``known_photo`` rule's copy score (``rules/known_photo.py``)
on the sample photos and video: different pictures of one person (a
genuine selfie against that person's scraped photo) against copies (a
photo held up to the camera, shaken, and a cut-out puppet sheared toward a
turn). Prints the figures recorded next to the rule.

    .venv/bin/python bench/known_photo.py
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings_test")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from search.imaging import load_image  # noqa: E402
from subjects.person.camera_check.rules.known_photo import copy_score  # noqa: E402
from subjects.person.selfie import SelfieRejected, one_face_in  # noqa: E402
from tests.conftest import FACES_DIR  # noqa: E402
from tests.subjects import capture  # noqa: E402

PEOPLE = {
    "obama": ["obama_1.jpg", "obama_2.jpg", "obama_3.jpg", "obama_4.jpg"],
    "biden": ["biden_1.jpg", "biden_2.jpg"],
    "kit_harington": ["kit_harington_1.jpg", "kit_harington_2.jpg", "kit_harington_3.jpg"],
    "alex_lacamoire": ["alex_lacamoire_1.png", "alex_lacamoire_2.jpg", "alex_lacamoire_3.jpg"],
    "rose_leslie": ["rose_leslie_1.jpg", "rose_leslie_2.jpg"],
}


def face_of(data: bytes):
    image = load_image(data)
    return image, one_face_in(image)


def main() -> None:
    scraped = {name: face_of((FACES_DIR / name).read_bytes())
               for names in PEOPLE.values() for name in names}
    other_pictures = []
    for names in PEOPLE.values():
        for a, b in itertools.permutations(names, 2):
            (ia, fa), (ib, fb) = scraped[a], scraped[b]
            other_pictures.append(copy_score(ia, fa, ib, fb.landmarks))
    lin = face_of((FACES_DIR / "lin_manuel_miranda_1.png").read_bytes())
    video = []
    frames = capture.video_frames()
    for n in capture.one_face_frames(84, 127)[::4]:
        image, face = face_of(capture.jpeg(frames[n]))
        video.append(copy_score(image, face, lin[0], lin[1].landmarks))
    copies = []
    for seed, names in enumerate(PEOPLE.values()):
        for name in names:
            for frames_ in (capture.photo_held_up(name, 3, seed=seed),
                            capture.sheared(capture.photo_held_up(name, 3, seed=seed + 9), 0.12)):
                for data in frames_:
                    try:
                        image, face = face_of(data)
                    except SelfieRejected:
                        continue
                    copies.append(copy_score(image, face, *scraped[name][:1],
                                             scraped[name][1].landmarks))

    def line(label, values):
        values = np.asarray(values)
        print(f"{label}: n={len(values)} min={values.min():.3f} max={values.max():.3f} "
              f"median={np.median(values):.3f}")

    line("different photos of one person", other_pictures)
    line("sample video frames vs the performer's scraped photo", video)
    line("copies (held up, sheared puppet) vs their source", copies)


if __name__ == "__main__":
    main()
