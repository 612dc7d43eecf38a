"""A bounded fuzz run over the selfie checks: whatever bytes arrive,
``the_one_face`` answers with one usable face or a ``SelfieRejected`` that
names its reason in a clear sentence, never with another exception.

(``tests/search/test_imaging.py`` fuzzes ``load_image`` alone; this one goes
through the face detector too, on small photos so it stays well under a
minute.)
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from search.backends.base import DetectedFace
from search.imaging import ImageError
from subjects.person.selfie import SelfieRejected, min_face_size, the_one_face
from tests.hostile.make_corpus import FACES_DIR, encode, heic, no_face_photo

SELFIE_CODES = ImageError.CODES | {"no_face", "several_faces", "face_too_small"}


def _seeds() -> list[bytes]:
    """Small files of every accepted format, with and without a face."""
    with Image.open(FACES_DIR / "obama_6_small.jpg") as image:
        face = image.convert("RGB")  # 320 x 240, one face of about 110 px
    wall = no_face_photo(160, 120)
    return [
        (FACES_DIR / "obama_6_small.jpg").read_bytes(),
        (FACES_DIR / "tom_hanks_1_aligned112.png").read_bytes(),
        encode(face, "WEBP", quality=70),
        encode(face.convert("L"), "PNG"),
        heic(face),
        encode(face.resize((160, 120)), "BMP"),
        encode(wall, "JPEG", quality=80, progressive=True),
        encode(wall.convert("RGBA"), "PNG"),
    ]


SEEDS = _seeds()
#: Values that make lengths, offsets and sizes in headers interesting.
EDGE_WORDS = [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00",
              b"\x00\x00\xff\xff", b"\xff\xd8\xff\xd9", b"IEND", b"IDAT", b"VP8X", b"ftyp"]
#: Starts of files of many kinds, followed by anything.
MAGICS = [b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1", b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBP",
          b"\0\0\0\x18ftypheic", b"BM", b"GIF89a", b"II*\0", b"<svg", b"%PDF-", b"PK\x03\x04"]


#: Mostly small damage, so that many files still reach the face detector.
ACTIONS = ["flip"] * 4 + ["word"] * 2 + ["truncate", "splice", "repeat", "junk"]


@st.composite
def damaged_photos(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(ACTIONS))
        if action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "word":
            data[at: at + 4] = draw(st.sampled_from(EDGE_WORDS))
        elif action == "truncate":
            del data[at:]
        elif action == "splice":
            other = draw(st.sampled_from(SEEDS))
            start = draw(st.integers(0, len(other) - 1))
            data[at:at] = other[start: start + draw(st.integers(1, 512))]
        elif action == "repeat":
            data[at:at] = bytes(data[at: at + draw(st.integers(1, 64))]) * draw(
                st.integers(2, 50))
        else:
            data[at: at + draw(st.integers(0, 32))] = draw(st.binary(min_size=1, max_size=32))
    return bytes(data)


def headed_junk() -> st.SearchStrategy[bytes]:
    return st.builds(lambda magic, tail: magic + tail, st.sampled_from(MAGICS),
                     st.binary(max_size=2048))


@settings(max_examples=500, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(damaged_photos(), damaged_photos(), headed_junk(), st.binary(max_size=512)))
def test_any_bytes_give_one_usable_face_or_a_clear_refusal(data):
    try:
        face = the_one_face(data)
    except SelfieRejected as rejected:
        event(rejected.code)
        assert rejected.code in SELFIE_CODES, rejected.code
        sentence = str(rejected.message)
        assert sentence.endswith(".") and len(sentence) > 30, sentence
        assert "?" not in sentence, f"a number is missing from {sentence!r}"
    else:
        event("accepted")
        assert isinstance(face, DetectedFace)
        assert face.size >= min_face_size()
        assert len(face.embedding) == 128
        assert all(math.isfinite(value) for value in face.embedding)
