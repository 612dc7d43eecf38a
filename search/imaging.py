"""Loading untrusted images into RGB arrays for the face backends.

Every image that reaches a face model (a citizen's selfie, a scraped photo)
goes through :func:`load_image`. It accepts only still photos in a short list
of formats, refuses what could exhaust memory *before* decoding any pixels,
and turns every failure into an :class:`ImageError` whose ``code`` a view can
branch on and whose ``message`` can be shown to the person who sent the file.
"""

from __future__ import annotations

import io
import os
import re
import threading
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageFile, ImageOps

__all__ = [
    "ALLOWED_FORMATS",
    "MIN_SIDE",
    "ImageError",
    "encode_jpeg",
    "load_image",
]

#: Smallest width and height accepted; a face needs more pixels than this.
MIN_SIDE = 32
EXIF_ORIENTATION = 0x0112

#: Pillow format names we decode. MPO is how Pillow names the multi-picture
#: JPEGs many cameras write (a photo plus a preview or a stereo pair); it is
#: a JPEG and only its first picture is used.
ALLOWED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "HEIF", "HEIC", "BMP"})

_MESSAGES = {
    "empty": _("The file is empty. Please choose a photo and try again."),
    "too_large": _(
        "The file is too large: the limit is %(limit_mb)s MB. "
        "Please choose a smaller photo or reduce its size and try again."
    ),
    "not_an_image": _(
        "This file is not a photo we can read. "
        "Please upload a JPEG, PNG, WebP or HEIC photo."
    ),
    "unsupported_format": _(
        "Images in the %(format)s format are not accepted. "
        "Please upload a JPEG, PNG, WebP or HEIC photo."
    ),
    "truncated": _(
        "The image file is incomplete or damaged. "
        "Please upload it again or choose another photo."
    ),
    "too_many_pixels": _(
        "The image has too many pixels (%(megapixels)s megapixels; the limit is "
        "%(limit_megapixels)s). Please resize it and try again."
    ),
    "too_small": _(
        "The image is too small (%(width)s × %(height)s pixels). Please upload a "
        "photo at least %(min_side)s pixels wide and high."
    ),
    "animated": _(
        "Animated images are not accepted. Please upload a single still photo."
    ),
}


class _Params(dict):
    """Interpolation values; a placeholder without one renders as "?"."""

    def __missing__(self, key: str) -> str:
        return "?"


def _interpolate(template: Any, params: dict[str, Any]) -> str:
    return str(template) % _Params(params)


# A lazily translated message whose parameters are filled in when it is
# rendered, in the language active at that time.
_lazy_interpolate = lazy(_interpolate, str)


class ImageError(ValueError):
    """An uploaded or scraped file that cannot be used as a photo.

    ``code`` is a short slug (see ``ImageError.CODES``); ``message`` is a
    translatable sentence for the person who sent the file; ``params`` holds
    the numbers it mentions.
    """

    CODES = frozenset(_MESSAGES)

    def __init__(self, code: str, **params: Any) -> None:
        if code not in _MESSAGES:
            raise ValueError(f"unknown image error code {code!r}")
        self.code = code
        self.params = params
        self.message = _lazy_interpolate(_MESSAGES[code], params)
        super().__init__(code)

    def __str__(self) -> str:
        return str(self.message)

    def __repr__(self) -> str:
        return f"ImageError({self.code!r}, {self.params!r})"

    def __reduce__(self):
        # Picklable with its parameters (Celery sends exceptions between
        # processes); the message is rebuilt, lazily translated, on arrival.
        return (_rebuild_image_error, (self.code, self.params))


def _rebuild_image_error(code: str, params: dict[str, Any]) -> ImageError:
    return ImageError(code, **params)


_heif_lock = threading.Lock()
_heif_registered = False


def _register_heif() -> None:
    """Teach Pillow to open HEIF/HEIC, once per process."""
    global _heif_registered
    if _heif_registered:
        return
    with _heif_lock:
        if not _heif_registered:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _heif_registered = True


def _limits(max_bytes: int | None, max_pixels: int | None) -> tuple[int, int]:
    if max_bytes is None:
        max_bytes = settings.FACE_UPLOAD_MAX_BYTES
    if max_pixels is None:
        max_pixels = settings.FACE_MAX_PIXELS
    return int(max_bytes), int(max_pixels)


def _read_bytes(data: bytes | bytearray | memoryview | str | os.PathLike | IO[bytes],
                max_bytes: int) -> bytes:
    """Return the file's bytes, reading at most ``max_bytes + 1`` of them.

    Errors opening a path (missing file, permissions) are the caller's and
    propagate as ``OSError``.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    elif isinstance(data, str | os.PathLike):
        path = Path(data)
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageError("too_large", limit_mb=_megabytes(max_bytes))
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    elif hasattr(data, "read"):
        declared = getattr(data, "size", None)  # Django's UploadedFile
        if isinstance(declared, int) and declared > max_bytes:
            raise ImageError("too_large", limit_mb=_megabytes(max_bytes))
        raw = data.read(max_bytes + 1)
        if isinstance(raw, str):
            raise TypeError("load_image() needs a file opened in binary mode")
        raw = bytes(raw)
    else:
        raise TypeError(
            f"load_image() takes bytes, a path or a binary file, not {type(data).__name__}"
        )
    if not raw:
        raise ImageError("empty")
    if len(raw) > max_bytes:
        raise ImageError("too_large", limit_mb=_megabytes(max_bytes))
    return raw


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):g}"


def _looks_like_photo(raw: bytes) -> bool:
    """Whether the bytes start with the signature of an accepted format."""
    head = raw[:32]
    return (
        head.startswith(b"\xff\xd8\xff")  # JPEG
        or head.startswith(b"\x89PNG\r\n\x1a\n")
        or (head.startswith(b"RIFF") and head[8:12] == b"WEBP")
        or (head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS)
    )


#: Signatures of image formats the portal does not take, to name them in
#: the refusal without handing the file to their parsers.
_OTHER_FORMATS = (
    (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"II*\0", "TIFF"), (b"MM\0*", "TIFF"),
    (b"\0\0\1\0", "ICO"), (b"\0\0\2\0", "CUR"),
    (b"8BPS", "PSD"), (b"\0\0\0\x0cjP  ", "JPEG2000"), (b"\xff\x4f\xff\x51", "JPEG2000"),
    (b"qoif", "QOI"), (b"DDS ", "DDS"), (b"icns", "ICNS"),
)
_NETPBM = {b"P1": "PBM", b"P4": "PBM", b"P2": "PGM", b"P5": "PGM", b"P3": "PPM", b"P6": "PPM",
           b"P7": "PAM"}


def _accepted_openers() -> list[str]:
    """Pillow's openers of the accepted formats (those installed here)."""
    Image.init()
    _register_heif()
    return sorted(name for name in ALLOWED_FORMATS if name in Image.OPEN)


def _other_format(raw: bytes) -> str | None:
    """The name of a format the portal does not take, by signature only."""
    for signature, name in _OTHER_FORMATS:
        if raw.startswith(signature):
            return name
    if raw[:2] in _NETPBM and raw[2:3] in (b" ", b"\n", b"\r", b"\t"):
        return _NETPBM[raw[:2]]
    return None


_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


# Pillow's bomb check runs while opening, before the size is ours to read;
# its message ("Image size (900000000 pixels) exceeds limit ...") has it.
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def _bomb_megapixels(exc: Exception) -> str:
    found = _BOMB_PIXELS.search(str(exc))
    return f"{int(found.group(1)) / 1e6:.1f}" if found else "?"


def _is_animated(image: Image.Image) -> bool:
    if image.format in {"MPO", "HEIF", "HEIC"}:
        # Several pictures in one file (camera previews, HEIF bursts): these
        # are stills; Pillow starts on the first (MPO) or primary (HEIF) one.
        return False
    animated = getattr(image, "is_animated", None)
    if animated is None:
        animated = getattr(image, "n_frames", 1) > 1
    return bool(animated)


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in {"I;16", "I;16L", "I;16B", "I;16N", "I"}:
        # 16-bit greyscale (PNG): scale 0..65535 down to 0..255 rather than
        # letting a plain conversion clip every value above 255 to white.
        values = np.asarray(image, dtype=np.int64)
        grey = np.clip((values + 128) // 257, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "F":
        grey = np.clip(np.rint(np.asarray(image, dtype=np.float64)), 0, 255)
        return np.ascontiguousarray(np.repeat(grey.astype(np.uint8)[:, :, None], 3, axis=2))

    has_alpha = mode in {"RGBA", "RGBa", "LA", "La", "PA"} or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba).convert("RGB")
    elif mode != "RGB":
        # L, 1, P, CMYK (Pillow undoes Adobe's inverted CMYK while decoding),
        # YCbCr, RGBX, LAB ...
        image = image.convert("RGB")
    array = np.array(image, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:  # pragma: no cover - defensive
        raise ImageError("not_an_image")
    return np.ascontiguousarray(array)


def load_image(
    data: bytes | bytearray | memoryview | str | os.PathLike | IO[bytes],
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    reduce: int = 1,
) -> np.ndarray:
    """Decode a still photo into an ``(H, W, 3)`` uint8 RGB array.

    ``reduce`` (2, 4 or 8): a JPEG may be decoded at up to that fraction of
    its size (libjpeg's DCT scaling, "draft mode": a quarter or a sixteenth
    of the work); other formats, and sizes it cannot reach, come whole. The
    caller reads the scale from the array's shape.

    The EXIF orientation is applied, transparency is composited on white and
    16-bit, greyscale, palette and CMYK images become 8-bit RGB. Limits come
    from ``settings.FACE_UPLOAD_MAX_BYTES`` and ``settings.FACE_MAX_PIXELS``
    unless given. Raises :class:`ImageError` for anything that is not a usable
    photo; nothing else escapes for bad file contents.
    """
    max_bytes, max_pixels = _limits(max_bytes, max_pixels)
    raw = _read_bytes(data, max_bytes)
    _register_heif()
    # Never decode what is left of a cut-off file; the flag is global and
    # must stay off (a truncated upload is refused, not half-grey).
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # "Corrupt EXIF data" and the like: common in uploads, not news.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            try:
                # Only the accepted formats' parsers ever see an upload.
                image = Image.open(io.BytesIO(raw), formats=_accepted_openers())
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ImageError(
                    "too_many_pixels",
                    megapixels=_bomb_megapixels(exc),
                    limit_megapixels=f"{max_pixels / 1e6:g}",
                ) from exc
            except Exception as exc:  # UnidentifiedImageError, plugin errors
                # A file that starts like a photo but cannot even be opened was
                # cut off or damaged; an image of another format is named by
                # its signature alone; anything else is not a photo at all.
                other = _other_format(raw)
                if other and not _looks_like_photo(raw):
                    raise ImageError("unsupported_format", format=other) from exc
                code = "truncated" if _looks_like_photo(raw) else "not_an_image"
                raise ImageError(code) from exc

            with image:
                width, height = image.size
                if width <= 0 or height <= 0:
                    raise ImageError("not_an_image")
                # The header's size, checked before a single pixel is decoded.
                if width * height > max_pixels:
                    raise ImageError(
                        "too_many_pixels",
                        megapixels=f"{width * height / 1e6:.1f}",
                        limit_megapixels=f"{max_pixels / 1e6:g}",
                    )
                if _is_animated(image):
                    raise ImageError("animated")
                if image.format not in ALLOWED_FORMATS:
                    raise ImageError("unsupported_format", format=image.format or "?")
                if width < MIN_SIDE or height < MIN_SIDE:
                    raise ImageError("too_small", width=width, height=height, min_side=MIN_SIDE)
                if reduce > 1 and image.format == "JPEG" and image.mode in ("RGB", "L"):
                    image.draft(image.mode, (max(width // int(reduce), 1),
                                             max(height // int(reduce), 1)))
                try:
                    image.load()
                except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                    raise ImageError(
                        "too_many_pixels",
                        megapixels=f"{width * height / 1e6:.1f}",
                        limit_megapixels=f"{max_pixels / 1e6:g}",
                    ) from exc
                except MemoryError:
                    raise
                except Exception as exc:
                    # OSError "image file is truncated", decoder errors,
                    # SyntaxError "broken PNG file", zlib errors ...
                    raise ImageError("truncated") from exc
                oriented = image
                try:
                    if image.getexif().get(EXIF_ORIENTATION, 1) in range(2, 9):
                        oriented = ImageOps.exif_transpose(image)
                except Exception:
                    # A damaged EXIF block should not cost the person their
                    # photo: use it as stored.
                    oriented = image
                return _to_rgb_array(oriented)
    except ImageError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageError("not_an_image") from exc


def encode_jpeg(array: np.ndarray, quality: int = 90) -> bytes:
    """Encode an ``(H, W, 3)`` or ``(H, W)`` uint8 array as a baseline JPEG.

    No metadata is written (no EXIF, no ICC profile).
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"encode_jpeg() needs a uint8 array, not {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"encode_jpeg() needs an (H, W, 3) or (H, W) array, not {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError("encode_jpeg() needs a non-empty array")
    if not 1 <= int(quality) <= 100:
        raise ValueError("quality must be between 1 and 100")
    image = Image.fromarray(np.ascontiguousarray(array))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()
