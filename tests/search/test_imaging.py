"""search.imaging: every accepted format becomes the right RGB array, every
bad file becomes an ImageError with the right code."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from search.imaging import ALLOWED_FORMATS, ImageError, encode_jpeg, load_image
from tests.conftest import FACES_DIR

ORIENTATION = 0x0112


# --- helpers ------------------------------------------------------------------


def quadrants(width: int = 96, height: int = 64) -> np.ndarray:
    """An image whose four quadrants have distinct colours, to see rotations."""
    a = np.zeros((height, width, 3), dtype=np.uint8)
    h, w = height // 2, width // 2
    a[:h, :w] = (220, 30, 30)  # top left: red
    a[:h, w:] = (30, 200, 30)  # top right: green
    a[h:, :w] = (30, 30, 220)  # bottom left: blue
    a[h:, w:] = (240, 240, 240)  # bottom right: white
    return a


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, rows) -> bytes:
    """A PNG written by hand from an iterable of raw scanlines (no filter)."""
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(b"\x00" + row) for row in rows) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def assert_rgb(array: np.ndarray, height: int, width: int) -> None:
    assert isinstance(array, np.ndarray)
    assert array.shape == (height, width, 3)
    assert array.dtype == np.uint8
    assert array.flags.c_contiguous


def close(a, b, tolerance: int = 12) -> bool:
    return bool(np.all(np.abs(np.asarray(a, int) - np.asarray(b, int)) <= tolerance))


def code_of(data, **kwargs) -> str:
    with pytest.raises(ImageError) as info:
        load_image(data, **kwargs)
    return info.value.code


@pytest.fixture(scope="module")
def jpeg_bytes() -> bytes:
    return encode(Image.fromarray(quadrants()), "JPEG", quality=95)


@pytest.fixture(scope="module")
def png_bytes() -> bytes:
    return encode(Image.fromarray(quadrants()), "PNG")


# --- accepted formats ---------------------------------------------------------


def test_jpeg_gives_rgb_array(jpeg_bytes):
    array = load_image(jpeg_bytes)
    assert_rgb(array, 64, 96)
    assert close(array[10, 10], (220, 30, 30))
    assert close(array[10, 80], (30, 200, 30))
    assert close(array[50, 10], (30, 30, 220))
    assert close(array[50, 80], (240, 240, 240))
    assert array.flags.writeable


def test_png_is_exact(png_bytes):
    array = load_image(png_bytes)
    assert_rgb(array, 64, 96)
    assert np.array_equal(array, quadrants())


@pytest.mark.parametrize(
    ("orientation", "rotation"),
    [(1, 0), (3, 2), (6, -1), (8, 1)],  # np.rot90 turns: -1 = clockwise
)
def test_exif_orientation_is_applied(orientation, rotation):
    original = quadrants()
    image = Image.fromarray(original)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    data = encode(image, "JPEG", quality=95, exif=exif.tobytes())
    array = load_image(data)
    expected = np.rot90(original, rotation)
    assert_rgb(array, *expected.shape[:2])
    assert np.abs(array.astype(int) - expected).mean() < 4
    # The top-left corner shows what the camera saw there.
    assert close(array[5, 5], expected[5, 5])


def test_exif_orientation_6_turns_landscape_into_portrait():
    array = load_image(
        encode(Image.fromarray(quadrants()), "JPEG", exif=_exif(6), quality=95)
    )
    assert array.shape == (96, 64, 3)
    assert close(array[5, 5], (30, 30, 220))  # old bottom-left is now top-left


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()


def test_rgba_png_is_composited_on_white():
    rgba = np.zeros((40, 60, 4), dtype=np.uint8)
    rgba[:, :20] = (0, 0, 0, 0)  # transparent black
    rgba[:, 20:40] = (0, 0, 0, 128)  # half-transparent black
    rgba[:, 40:] = (200, 10, 10, 255)  # opaque red
    array = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert_rgb(array, 40, 60)
    assert np.all(array[:, :20] == 255)
    assert close(array[:, 20:40], (127, 127, 127), tolerance=2)
    assert np.all(array[:, 40:] == (200, 10, 10))


def test_la_png_is_composited_on_white():
    la = np.zeros((40, 40, 2), dtype=np.uint8)
    la[:, :20] = (0, 0)
    la[:, 20:] = (60, 255)
    array = load_image(encode(Image.fromarray(la, "LA"), "PNG"))
    assert_rgb(array, 40, 40)
    assert np.all(array[:, :20] == 255)
    assert np.all(array[:, 20:] == 60)


def test_palette_png_with_transparency_is_composited_on_white():
    image = Image.new("P", (40, 40), 0)
    image.putpalette([0, 0, 0, 10, 120, 230] + [0] * (254 * 3))
    image.paste(1, (20, 0, 40, 40))
    data = encode(image, "PNG", transparency=0)
    array = load_image(data)
    assert_rgb(array, 40, 40)
    assert np.all(array[:, :20] == 255)
    assert np.all(array[:, 20:] == (10, 120, 230))


def test_palette_gif_like_png_without_transparency():
    image = Image.fromarray(quadrants()).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    array = load_image(encode(image, "PNG"))
    assert_rgb(array, 64, 96)
    assert close(array[10, 10], (220, 30, 30), tolerance=2)
    assert close(array[50, 80], (240, 240, 240), tolerance=2)


def test_greyscale_becomes_three_equal_channels():
    grey = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    for fmt in ("PNG", "JPEG"):
        array = load_image(encode(Image.fromarray(grey, "L"), fmt))
        assert_rgb(array, 48, 64)
        assert np.array_equal(array[:, :, 0], array[:, :, 1])
        assert np.array_equal(array[:, :, 1], array[:, :, 2])
        assert close(array[:, :, 0], grey, tolerance=6)


def test_cmyk_jpeg_becomes_rgb():
    cmyk = np.zeros((40, 60, 4), dtype=np.uint8)
    cmyk[:, :30] = (255, 0, 0, 0)  # cyan
    cmyk[:, 30:] = (0, 0, 0, 255)  # black
    image = Image.fromarray(cmyk, "CMYK")
    data = encode(image, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    array = load_image(data)
    assert_rgb(array, 40, 60)
    assert close(array[20, 10], (0, 255, 255))
    assert close(array[20, 50], (0, 0, 0))


def test_16_bit_greyscale_png_is_scaled_not_clipped():
    gradient = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (40, 1))
    data = encode(Image.fromarray(gradient), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    array = load_image(data)
    assert_rgb(array, 40, 256)
    row = array[0, :, 0].astype(int)
    assert row[0] == 0
    assert row[-1] == 255
    assert abs(row[128] - 128) <= 1
    assert np.all(np.diff(row) >= 0)
    assert (array == 255).mean() < 0.01  # not a white image


def test_16_bit_rgb_png():
    width, height = 64, 40
    rows = []
    for _ in range(height):
        pixels = np.zeros((width, 3), dtype=">u2")
        pixels[:, 0] = 65535  # red at full scale
        pixels[:, 1] = 32768
        pixels[:, 2] = np.linspace(0, 65535, width).astype(np.uint16)
        rows.append(pixels.tobytes())
    array = load_image(raw_png(width, height, 16, 2, rows))
    assert_rgb(array, height, width)
    assert np.all(array[:, :, 0] == 255)
    assert np.all(np.abs(array[:, :, 1].astype(int) - 128) <= 1)
    assert array[0, 0, 2] == 0 and array[0, -1, 2] == 255


def test_webp_lossless_is_exact():
    data = encode(Image.fromarray(quadrants()), "WEBP", lossless=True)
    array = load_image(data)
    assert_rgb(array, 64, 96)
    assert np.array_equal(array, quadrants())


def test_webp_with_alpha_is_composited_on_white():
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[:, 20:] = (10, 200, 10, 255)
    array = load_image(encode(Image.fromarray(rgba, "RGBA"), "WEBP", lossless=True))
    assert np.all(array[:, :20] == 255)
    assert np.all(array[:, 20:] == (10, 200, 10))


def test_heic():
    import pillow_heif

    pillow_heif.register_heif_opener()
    data = encode(Image.fromarray(quadrants()), "HEIF", quality=95)
    assert data[4:12] in (b"ftypheic", b"ftypmif1")
    array = load_image(data)
    assert_rgb(array, 64, 96)
    assert np.abs(array.astype(int) - quadrants()).mean() < 8
    assert close(array[10, 10], (220, 30, 30), tolerance=20)
    assert close(array[50, 80], (240, 240, 240), tolerance=20)


def test_bmp():
    array = load_image(encode(Image.fromarray(quadrants()), "BMP"))
    assert np.array_equal(array, quadrants())


def test_multi_picture_jpeg_uses_the_first_picture():
    first = Image.fromarray(quadrants())
    second = Image.new("RGB", (96, 64), (0, 0, 0))
    data = encode(first, "MPO", save_all=True, append_images=[second], quality=95)
    assert Image.open(io.BytesIO(data)).format == "MPO"
    array = load_image(data)
    assert_rgb(array, 64, 96)
    assert close(array[10, 10], (220, 30, 30))


def test_smallest_accepted_size():
    assert_rgb(load_image(encode(Image.new("RGB", (32, 32), "red"), "PNG")), 32, 32)


def test_path_and_file_object(tmp_path, jpeg_bytes):
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes)
    from_bytes = load_image(jpeg_bytes)
    assert np.array_equal(load_image(path), from_bytes)
    assert np.array_equal(load_image(str(path)), from_bytes)
    with path.open("rb") as handle:
        assert np.array_equal(load_image(handle), from_bytes)
    assert np.array_equal(load_image(io.BytesIO(jpeg_bytes)), from_bytes)
    assert np.array_equal(load_image(bytearray(jpeg_bytes)), from_bytes)
    assert np.array_equal(load_image(memoryview(jpeg_bytes)), from_bytes)


def test_real_photos_load():
    array = load_image(FACES_DIR / "alex_lacamoire_1.png")  # RGBA PNG
    assert_rgb(array, 394, 424)
    array = load_image(FACES_DIR / "obama_3.jpg")
    assert_rgb(array, 2333, 1434)


# --- refusals -----------------------------------------------------------------


def test_empty(tmp_path):
    assert code_of(b"") == "empty"
    assert code_of(io.BytesIO(b"")) == "empty"
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert code_of(empty) == "empty"


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is not a photo\n" * 10,
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" '
        b'height="100"><circle cx="50" cy="50" r="40"/></svg>',
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + b"\0" * 200,
        b"PK\x03\x04" + b"\0" * 200,  # a ZIP
        b"\0" * 1000,
    ],
    ids=["text", "svg", "pdf", "zip", "zeros"],
)
def test_not_an_image(data):
    assert code_of(data) == "not_an_image"


@pytest.mark.parametrize(("fmt", "params"), [("TIFF", {}), ("GIF", {}), ("ICO", {}), ("PPM", {})])
def test_other_image_formats_are_unsupported(fmt, params):
    data = encode(Image.fromarray(quadrants()), fmt, **params)
    with pytest.raises(ImageError) as info:
        load_image(data)
    assert info.value.code == "unsupported_format"
    assert info.value.params["format"] == fmt
    assert fmt in str(info.value)


def test_truncated_jpeg(jpeg_bytes):
    assert code_of(jpeg_bytes[: len(jpeg_bytes) // 2]) == "truncated"
    assert code_of(jpeg_bytes[:-20]) == "truncated"
    assert code_of(jpeg_bytes[:30]) == "truncated"  # cut inside the header
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_png():
    noisy = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noisy), "PNG")
    assert code_of(data[: len(data) // 2]) == "truncated"
    assert code_of(data[:40]) == "truncated"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_corrupt_png_crc():
    data = bytearray(encode(Image.fromarray(quadrants()), "PNG"))
    data[40] ^= 0xFF  # inside IDAT
    assert code_of(bytes(data)) == "truncated"


def test_header_only_bomb_is_refused_before_decoding(monkeypatch):
    # 30000 x 30000 1-bit greyscale, all zeros: 900 megapixels in ~100 kB.
    width = height = 30_000
    row = bytes(width // 8)
    data = raw_png(width, height, 1, 0, (row for _ in range(height)))
    assert len(data) < 1_000_000

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageError) as info:
        load_image(data)
    assert info.value.code == "too_many_pixels"
    # Pillow refuses it while opening; the sentence still says how many.
    assert info.value.params["megapixels"] == "900.0"
    assert "(900.0 megapixels; the limit is 40)" in str(info.value)


def test_pixel_limit_is_checked_from_the_header(monkeypatch):
    # 8000 x 6000 = 48 MP: above our 40 MP default, below Pillow's own limits.
    row = bytes(8000 // 8)
    data = raw_png(8000, 6000, 1, 0, (row for _ in range(6000)))

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageError) as info:
        load_image(data)
    assert info.value.code == "too_many_pixels"
    assert info.value.params["megapixels"] == "48.0"
    assert "48.0" in str(info.value)


def test_pixel_limit_from_argument_and_settings(png_bytes):
    assert code_of(png_bytes, max_pixels=96 * 64 - 1) == "too_many_pixels"
    assert_rgb(load_image(png_bytes, max_pixels=96 * 64), 64, 96)
    with override_settings(FACE_MAX_PIXELS=1000):
        assert code_of(png_bytes) == "too_many_pixels"
    assert_rgb(load_image(png_bytes), 64, 96)


def test_pillow_decompression_bomb_error_becomes_image_error(monkeypatch, png_bytes):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert code_of(png_bytes, max_pixels=10**9) == "too_many_pixels"  # > 2x: error
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4000)
    assert code_of(png_bytes, max_pixels=10**9) == "too_many_pixels"  # > 1x: warning


def test_too_large(tmp_path, jpeg_bytes):
    limit = len(jpeg_bytes) - 1
    assert code_of(jpeg_bytes, max_bytes=limit) == "too_large"
    assert code_of(io.BytesIO(jpeg_bytes), max_bytes=limit) == "too_large"
    path = tmp_path / "big.jpg"
    path.write_bytes(jpeg_bytes)
    assert code_of(path, max_bytes=limit) == "too_large"
    assert_rgb(load_image(jpeg_bytes, max_bytes=len(jpeg_bytes)), 64, 96)
    with override_settings(FACE_UPLOAD_MAX_BYTES=1024 * 1024):
        error = pytest.raises(ImageError, load_image, b"\xff\xd8\xff" + b"\0" * (1024 * 1024))
        assert error.value.code == "too_large"
        assert "1 MB" in str(error.value)


def test_too_large_reads_no_more_than_the_limit(jpeg_bytes):
    class Stream(io.BytesIO):
        biggest_read = 0

        def read(self, size=-1):
            Stream.biggest_read = max(Stream.biggest_read, size)
            assert size != -1, "read everything"
            return super().read(size)

    stream = Stream(jpeg_bytes * 100)
    assert code_of(stream, max_bytes=5000) == "too_large"
    assert Stream.biggest_read == 5001


def _frames(count: int) -> list[Image.Image]:
    colours = ["red", "green", "blue", "white"]
    return [Image.new("RGB", (64, 64), colours[i % 4]) for i in range(count)]


def test_animated_gif():
    # Refused for its format before any parser reads its frames.
    first, *rest = _frames(3)
    data = encode(first, "GIF", save_all=True, append_images=rest, duration=100, loop=0)
    assert code_of(data) == "unsupported_format"


def test_animated_webp():
    first, *rest = _frames(3)
    data = encode(first, "WEBP", save_all=True, append_images=rest, duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).is_animated
    assert code_of(data) == "animated"


def test_animated_png():
    first, *rest = _frames(2)
    data = encode(first, "PNG", save_all=True, append_images=rest, duration=100)
    assert code_of(data) == "animated"


def test_single_frame_webp_with_animation_container_is_fine():
    (first,) = _frames(1)
    data = encode(first, "WEBP", save_all=True, lossless=True)
    assert_rgb(load_image(data), 64, 64)


@pytest.mark.parametrize("size", [(1, 1), (31, 100), (100, 31)])
def test_too_small(size):
    data = encode(Image.new("RGB", size, "red"), "PNG")
    with pytest.raises(ImageError) as info:
        load_image(data)
    assert info.value.code == "too_small"
    assert f"{size[0]} × {size[1]}" in str(info.value)


def test_wrong_argument_types_are_programming_errors():
    with pytest.raises(TypeError):
        load_image(12345)
    with pytest.raises(TypeError):
        load_image(io.StringIO("text"))
    with pytest.raises(FileNotFoundError):
        load_image(Path("/nonexistent/photo.jpg"))


# --- the error itself -----------------------------------------------------------


def test_image_error_has_code_and_translatable_message():
    from django.utils.functional import Promise

    error = ImageError("too_large", limit_mb="10")
    assert error.code == "too_large"
    assert isinstance(error, ValueError)
    assert isinstance(error.message, Promise)  # lazy: rendered in the active language
    assert str(error) == str(error.message)
    assert "10 MB" in str(error)
    assert {
        "empty", "too_large", "not_an_image", "unsupported_format", "truncated",
        "too_many_pixels", "too_small", "animated",
    } == ImageError.CODES
    for code in ImageError.CODES:
        params = {"limit_mb": 1, "format": "X", "megapixels": 1, "limit_megapixels": 1,
                  "width": 1, "height": 1, "min_side": 1}
        message = str(ImageError(code, **params))
        assert message.endswith(".")
        assert "%(" not in message
    with pytest.raises(ValueError):
        ImageError("no_such_code")
    # A missing parameter does not break the rendering.
    assert "?" in str(ImageError("too_small"))


def test_image_error_pickles_with_its_parameters():
    import pickle

    error = ImageError("too_many_pixels", megapixels="48.0", limit_megapixels="40")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert isinstance(copy, ImageError)
    assert copy.code == "too_many_pixels"
    assert copy.params == error.params
    assert str(copy) == str(error)


def test_allowed_formats():
    assert {"JPEG", "PNG", "WEBP", "HEIF"} <= ALLOWED_FORMATS
    assert "GIF" not in ALLOWED_FORMATS and "TIFF" not in ALLOWED_FORMATS


# --- encode_jpeg ------------------------------------------------------------------


def test_encode_jpeg_round_trip():
    data = encode_jpeg(quadrants(), quality=95)
    assert data.startswith(b"\xff\xd8\xff")
    decoded = load_image(data)
    assert np.abs(decoded.astype(int) - quadrants()).mean() < 4
    assert Image.open(io.BytesIO(data)).getexif() == {}
    grey = encode_jpeg(np.full((40, 40), 128, dtype=np.uint8))
    assert close(load_image(grey)[20, 20], (128, 128, 128), tolerance=2)
    # A non-contiguous view (a crop) is fine.
    crop = quadrants()[10:50, 20:70]
    assert_rgb(load_image(encode_jpeg(crop)), 40, 50)


def test_encode_jpeg_refuses_bad_arrays():
    with pytest.raises(ValueError):
        encode_jpeg(np.zeros((10, 10, 3), dtype=np.float32))
    with pytest.raises(ValueError):
        encode_jpeg(np.zeros((10, 10, 4), dtype=np.uint8))
    with pytest.raises(ValueError):
        encode_jpeg(np.zeros((0, 10, 3), dtype=np.uint8))
    with pytest.raises(ValueError):
        encode_jpeg(np.zeros((10, 10, 3), dtype=np.uint8), quality=0)


# --- fuzzing ------------------------------------------------------------------------


def _seed_files() -> list[bytes]:
    rng = np.random.default_rng(7)
    base = quadrants(64, 48)
    base[::7] = rng.integers(0, 256, base[::7].shape, dtype=np.uint8)
    image = Image.fromarray(base)
    return [
        encode(image, "JPEG", quality=80, exif=_exif(6)),
        encode(image, "PNG"),
        encode(image.convert("RGBA"), "PNG"),
        encode(image, "WEBP", quality=80),
    ]


SEEDS = _seed_files()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[position] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0xD8, 0xD9]))
        elif action == "cut":
            del data[position:]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[position : position + draw(st.integers(1, 64))]
    return bytes(data)


@hypothesis_settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(mutated())
def test_fuzzed_files_give_an_array_or_an_image_error(data):
    try:
        array = load_image(data)
    except ImageError as error:
        assert error.code in ImageError.CODES
        assert str(error)
    else:
        assert array.dtype == np.uint8
        assert array.ndim == 3 and array.shape[2] == 3
        assert array.shape[0] >= 32 and array.shape[1] >= 32
        assert array.flags.c_contiguous
