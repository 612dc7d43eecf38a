"""What of a scraped photo a person may see, and erasing a face from one.

All image functions take and return ``(H, W, 3)`` uint8 RGB arrays, as
:func:`search.imaging.load_image` returns them, and never change their input.
A face box is ``(left, top, width, height)`` in pixels of that array (the
order of ``Face.box`` and ``DetectedFace.box``); anything with a ``box``
attribute (a ``Face`` row, a ``DetectedFace``) is accepted in its place.

- :func:`face_crop`: a tight crop of one face, to show a citizen a match,
  with any part of another person's face inside it anonymised.
- :func:`blur_faces`: other people's faces anonymised (Art. 15(4)), for the
  photos of an access package.
- :func:`outline_face`, :func:`subject_view`: the subject's face outlined,
  everyone else's anonymised.
- :func:`redact_face`: a face removed for good from a group photo (Art. 17),
  and :func:`rewrite_photo_file` to write the result over the stored file.

How faces are anonymised, and why it cannot be undone
-----------------------------------------------------

:func:`blur_faces` grows each box by :data:`BLUR_GROW` on every side (hair,
jaw, ears), averages it over a coarse grid whose cells measure ``strength``
times the grown box's longer side (by default 5 × 5 cells for the grown box,
so under 4 across the face itself), and then smooths that mosaic with a
blur of about one cell so no blocky edges remain. Every output pixel of the
anonymised area is a fixed function of those few cell averages (about 75
numbers for a whole face); everything else about the face (eyes, nose,
mouth, skin texture) has been averaged away, so no deblurring or
super-resolution model has anything to recover it from. The blur is applied
to the mosaic, never to the original pixels: a blur on its own could be
partly undone by deconvolution, block averages cannot.

:func:`redact_face` goes further: the grown box (by :data:`REDACT_GROW`) is
filled with a smooth gradient computed only from a band of pixels *outside*
it, so the result holds no information about the erased face at all.

The tests check both with the dlib model: after anonymising, it finds no
face there, or one whose embedding is beyond its "possible match" distance
of the original.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from PIL import Image

from search import imaging
from search.backends.base import check_image, clip_box

__all__ = [
    "BLUR_GROW",
    "DEFAULT_STRENGTH",
    "MAX_CROP_MARGIN",
    "MIN_STRENGTH",
    "OUTLINE_COLOUR",
    "REDACT_GROW",
    "blur_faces",
    "encode",
    "face_crop",
    "format_for_name",
    "outline_face",
    "outline_width",
    "photo_image",
    "redact_face",
    "rewrite_photo_file",
    "subject_view",
]

Box = tuple[int, int, int, int]

#: Fraction of a box's width and height added on every side before it is
#: anonymised, to take in hair, forehead, jaw and ears.
BLUR_GROW = 0.15
#: The same for an erasure, which errs further on the side of removing.
REDACT_GROW = 0.25
#: Mosaic cell size as a fraction of the grown box's longer side.
DEFAULT_STRENGTH = 0.2
#: Finer mosaics than this (more than 8 cells across) are refused: they
#: would start to keep the shape of a face.
MIN_STRENGTH = 0.125
#: Largest margin :func:`face_crop` takes, as a fraction of the box.
MAX_CROP_MARGIN = 0.5
OUTLINE_COLOUR = (255, 196, 0)

# File extensions of a stored photo and the format it is rewritten in.
_FORMAT_BY_EXTENSION = {
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "jpe": "JPEG",
    "jfif": "JPEG",
    "png": "PNG",
    "webp": "WEBP",
}
_SCRUB_CHUNK = 1024 * 1024
# Pixels rendered at a time while anonymising, to bound memory on big faces.
_RENDER_PIXELS = 1 << 20


# -- boxes ------------------------------------------------------------------


def _as_box(box: Any) -> tuple[float, float, float, float]:
    """``(left, top, width, height)`` of a box or of an object with ``.box``."""
    box = getattr(box, "box", box)
    try:
        left, top, width, height = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a face box is (left, top, width, height), got {box!r}") from exc
    if not all(math.isfinite(v) for v in (left, top, width, height)):
        raise ValueError(f"a face box needs finite numbers, got {box!r}")
    if width <= 0 or height <= 0:
        raise ValueError(f"a face box needs a positive width and height, got {box!r}")
    return (left, top, width, height)


def _grow(box: tuple[float, float, float, float], fraction: float):
    """The box's edges ``(x0, y0, x1, y1)``, grown by ``fraction`` of its
    width and height on every side."""
    left, top, width, height = box
    dx, dy = width * fraction, height * fraction
    return (left - dx, top - dy, left + width + dx, top + height + dy)


def _clip(edges, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Edges ``(x0, y0, x1, y1)`` clipped to the image in whole pixels (the
    box's partly covered pixels included), or None when nothing is inside."""
    clipped = clip_box(*edges, width, height)
    if clipped is None:
        return None
    left, top, box_width, box_height = clipped
    return (left, top, left + box_width, top + box_height)


def _box_edges(box: tuple[float, float, float, float]):
    left, top, width, height = box
    return (left, top, left + width, top + height)


def _check_strength(strength: float) -> float:
    strength = float(strength)
    if not (math.isfinite(strength) and MIN_STRENGTH <= strength <= 1.0):
        raise ValueError(
            f"strength must be between {MIN_STRENGTH} and 1.0 (a fraction of the face), "
            f"got {strength}"
        )
    return strength


def _area_mask(
    region: tuple[int, int, int, int],
    core: tuple[float, float, float, float],
    keep: Iterable[Any],
    width: int,
    height: int,
) -> np.ndarray:
    """Which pixels of ``region`` to replace: all of it except ``keep``
    boxes, but always the whole ``core`` box."""
    x0, y0, x1, y1 = region
    mask = np.ones((y1 - y0, x1 - x0), dtype=bool)
    for kept in keep:
        clipped = _clip(_box_edges(_as_box(kept)), width, height)
        if clipped is not None:
            kx0, ky0, kx1, ky1 = clipped
            mask[max(0, ky0 - y0):max(0, ky1 - y0), max(0, kx0 - x0):max(0, kx1 - x0)] = False
    clipped = _clip(_box_edges(core), width, height)
    if clipped is not None:
        cx0, cy0, cx1, cy1 = clipped
        mask[max(0, cy0 - y0):max(0, cy1 - y0), max(0, cx0 - x0):max(0, cx1 - x0)] = True
    return mask


# -- anonymising ------------------------------------------------------------


def _cell_starts(start: int, stop: int, origin: float, cell: int) -> np.ndarray:
    """Offsets (from ``start``) where mosaic cells begin in ``[start, stop)``.

    Cells are laid from ``origin``, the grown box's unclipped edge, so a box
    cut by the image or a crop edge is pixelated as coarsely as a whole one.
    """
    first = math.floor((start - origin) / cell) + 1
    boundaries = [start]
    edge = origin + first * cell
    while edge < stop:
        boundaries.append(math.floor(edge))
        edge += cell
    return np.unique(np.asarray(boundaries, dtype=np.int64) - start)


def _box_blur(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Mean over a window of ``2 * radius + 1`` along ``axis``, edges repeated."""
    if radius < 1:
        return values
    pad = [(0, 0)] * values.ndim
    pad[axis] = (radius + 1, radius)
    sums = np.cumsum(np.pad(values, pad, mode="edge"), axis=axis, dtype=np.float64)
    n = values.shape[axis]
    upper = np.take(sums, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
    lower = np.take(sums, np.arange(n), axis=axis)
    return (upper - lower) / (2 * radius + 1)


def _blurred_cells(sizes: np.ndarray, radius: int) -> np.ndarray:
    """``(pixels, cells)`` weights of each cell at each pixel along one axis of
    the mosaic after two box blurs (a smooth, bell-shaped kernel).

    The mosaic is the cell means repeated over their pixels; blurring it is
    linear and separable, so the blurred mosaic is ``rows @ means @ cols.T``
    without the full-size mosaic ever being built.
    """
    total = int(sizes.sum())
    weights = np.zeros((total, len(sizes)))
    weights[np.arange(total), np.repeat(np.arange(len(sizes)), sizes)] = 1.0
    for _ in range(2):
        weights = _box_blur(weights, radius, axis=0)
    return weights


def _write_rows(target: np.ndarray, mask: np.ndarray, render) -> None:
    """Write ``render(start, stop)`` (float ``(rows, W, 3)``) into the masked
    pixels of ``target``, a few rows at a time to bound memory."""
    height, width = mask.shape
    step = max(1, _RENDER_PIXELS // max(1, width))
    for start in range(0, height, step):
        stop = min(height, start + step)
        rows = mask[start:stop]
        if rows.any():
            values = np.clip(np.rint(render(start, stop)), 0, 255).astype(np.uint8)
            target[start:stop][rows] = values[rows]


def _face_region(out: np.ndarray, box: Any, grow: float):
    """``(core, grown, region)`` of one face of ``out``: its box, its grown
    edges and those clipped to whole pixels; None when it lies outside."""
    height, width = out.shape[:2]
    core = _as_box(box)
    grown = _grow(core, grow)
    region = _clip(grown, width, height)
    return None if region is None else (core, grown, region)


def _paint(out: np.ndarray, region, core, keep: Sequence[Any], render) -> None:
    """Write ``render``'s pixels over the face's region, sparing ``keep``."""
    height, width = out.shape[:2]
    x0, y0, x1, y1 = region
    _write_rows(out[y0:y1, x0:x1], _area_mask(region, core, keep, width, height), render)


def _pixelate_into(
    out: np.ndarray,
    box: Any,
    *,
    strength: float,
    grow: float,
    keep: Sequence[Any],
) -> None:
    """Anonymise one face of ``out`` in place: mosaic, then blur the mosaic."""
    found = _face_region(out, box, grow)
    if found is None:
        return
    core, grown, region = found
    x0, y0, x1, y1 = region
    cell = max(1, math.ceil(strength * max(grown[2] - grown[0], grown[3] - grown[1])))

    rows = _cell_starts(y0, y1, grown[1], cell)
    cols = _cell_starts(x0, x1, grown[0], cell)
    row_sizes = np.diff(np.append(rows, y1 - y0))
    sums = np.stack([
        out[y0 + start:y0 + start + size, x0:x1].sum(axis=0, dtype=np.uint64)
        for start, size in zip(rows, row_sizes, strict=True)
    ])
    sums = np.add.reduceat(sums, cols, axis=1)
    col_sizes = np.diff(np.append(cols, x1 - x0))
    means = sums / (row_sizes[:, None, None] * col_sizes[None, :, None])
    # From here on only the cell means are used: the face's own pixels are gone.
    radius = cell // 2
    row_weights = _blurred_cells(row_sizes, radius)
    col_weights = _blurred_cells(col_sizes, radius)
    n_rows, n_cols = means.shape[:2]
    flat = means.reshape(n_rows, n_cols * 3)

    def render(start: int, stop: int) -> np.ndarray:
        across = (row_weights[start:stop] @ flat).reshape(stop - start, n_cols, 3)
        return (across.transpose(0, 2, 1) @ col_weights.T).transpose(0, 2, 1)

    _paint(out, region, core, keep, render)


def _fill_from_surroundings(out: np.ndarray, box: Any, *, grow: float, keep: Sequence[Any]):
    """Replace one face of ``out`` in place with a gradient made only from the
    pixels around it."""
    height, width = out.shape[:2]
    found = _face_region(out, box, grow)
    if found is None:
        return
    core, grown, region = found
    x0, y0, x1, y1 = region
    h, w = y1 - y0, x1 - x0
    band = max(2, round(0.1 * max(h, w)))
    sides = {
        "top": out[max(0, y0 - band):y0, x0:x1],
        "bottom": out[y1:min(height, y1 + band), x0:x1],
        "left": out[y0:y1, max(0, x0 - band):x0],
        "right": out[y0:y1, x1:min(width, x1 + band)],
    }
    colours = {
        name: pixels.reshape(-1, 3).mean(axis=0, dtype=np.float64)
        for name, pixels in sides.items()
        if pixels.size
    }
    if not colours:
        # The face fills the whole image: nothing around it to take a colour
        # from. One mean colour is all that is left of it.
        mean = out[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0, dtype=np.float64)
        colours = {"top": mean}
    # Each side's colour weighs more the nearer a pixel is to that side.
    v = (np.arange(h) + 0.5) / h
    u = (np.arange(w) + 0.5) / w
    profiles = {"top": (1 - v, None), "bottom": (v, None), "left": (None, 1 - u),
                "right": (None, u)}

    def render(start: int, stop: int) -> np.ndarray:
        total = np.full((stop - start, w, 1), 1e-9)
        fill = np.zeros((stop - start, w, 3))
        for name, colour in colours.items():
            down, across = profiles[name]
            if down is not None:
                weight = np.broadcast_to(down[start:stop, None, None], total.shape)
            else:
                weight = np.broadcast_to(across[None, :, None], total.shape)
            fill += weight * colour
            total += weight
        return fill / total

    _paint(out, region, core, keep, render)


def blur_faces(
    image: np.ndarray,
    boxes: Iterable[Any],
    *,
    strength: float = DEFAULT_STRENGTH,
    grow: float = BLUR_GROW,
    keep: Sequence[Any] = (),
) -> np.ndarray:
    """A copy of ``image`` with every face in ``boxes`` irreversibly anonymised.

    Each box grown by ``grow`` on every side is pixelated into cells of
    ``strength`` times its longer side and the mosaic blurred (see the
    module's docstring). The growth stops at the ``keep`` boxes (the
    subject's own face in :func:`subject_view`); a face box itself is always
    anonymised whole, even where it overlaps a kept one: other people's
    faces come first.
    """
    image = check_image(image)
    strength = _check_strength(strength)
    if not (math.isfinite(grow) and grow >= 0):
        raise ValueError(f"grow must be a fraction >= 0, got {grow}")
    keep = list(keep)
    out = image.copy()
    for box in boxes:
        _pixelate_into(out, box, strength=strength, grow=grow, keep=keep)
    return out


def redact_face(
    image: np.ndarray,
    box: Any,
    *,
    keep: Sequence[Any] = (),
    grow: float = REDACT_GROW,
) -> np.ndarray:
    """A copy of ``image`` with one face removed, to be stored after an erasure.

    The box grown by ``grow`` on every side is filled with a smooth gradient
    between the mean colours of the bands just outside each of its sides; no
    pixel of the face is used, so nothing of it remains. Pass the other faces
    of the photo as ``keep`` so the growth leaves them alone (the erased box
    itself is always filled whole).
    """
    image = check_image(image)
    if not (math.isfinite(grow) and grow >= 0):
        raise ValueError(f"grow must be a fraction >= 0, got {grow}")
    out = image.copy()
    _fill_from_surroundings(out, box, grow=grow, keep=list(keep))
    return out


def redact_faces(image: np.ndarray, boxes: Iterable[Any], *,
                 keep: Sequence[Any] = ()) -> np.ndarray:
    """A copy of ``image`` with every face in ``boxes`` removed by
    :func:`redact_face`, sparing the ``keep`` boxes (the other faces): how a
    stored photo loses a face, at erasure and at ingest alike."""
    out = check_image(image)
    for box in boxes:
        out = redact_face(out, box, keep=keep)
    return out


# -- views ------------------------------------------------------------------


def face_crop(
    image: np.ndarray,
    box: Any,
    *,
    others: Iterable[Any] = (),
    margin: float = 0.0,
    size: int | None = None,
    fill: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """A tight crop of one face, for showing a citizen their matches.

    The crop is the box clipped to the image, grown by ``margin`` (a fraction
    of the box, at most :data:`MAX_CROP_MARGIN`) on every side. Any part of
    an ``others`` box inside it is anonymised as by :func:`blur_faces` before
    anything is returned. With ``size``, the crop is scaled so that its longer
    side is ``size`` and centred on a ``size`` × ``size`` square of ``fill``.
    """
    image = check_image(image)
    margin = float(margin)
    if not (math.isfinite(margin) and 0 <= margin <= MAX_CROP_MARGIN):
        raise ValueError(f"margin must be between 0 and {MAX_CROP_MARGIN}, got {margin}")
    height, width = image.shape[:2]
    subject = _as_box(box)
    region = _clip(_grow(subject, margin), width, height)
    if region is None:
        raise ValueError(f"the face box {box!r} lies outside the image")
    x0, y0, x1, y1 = region
    crop = image[y0:y1, x0:x1].copy()

    def shifted(b: Any) -> tuple[float, float, float, float]:
        left, top, w, h = _as_box(b)
        return (left - x0, top - y0, w, h)

    local_subject = shifted(subject)
    for other in others:
        _pixelate_into(
            crop, shifted(other), strength=DEFAULT_STRENGTH, grow=BLUR_GROW,
            keep=[local_subject],
        )
    if size is None:
        return crop
    return _thumbnail(crop, int(size), fill)


def _thumbnail(crop: np.ndarray, size: int, fill: tuple[int, int, int]) -> np.ndarray:
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    h, w = crop.shape[:2]
    scale = size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = np.asarray(
        Image.fromarray(crop).resize((new_w, new_h), Image.Resampling.LANCZOS), dtype=np.uint8
    )
    square = np.empty((size, size, 3), dtype=np.uint8)
    square[:, :] = _check_colour(fill)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    square[top:top + new_h, left:left + new_w] = resized
    return square


def _check_colour(colour: Sequence[int]) -> tuple[int, int, int]:
    values = tuple(int(c) for c in colour)
    if len(values) != 3 or not all(0 <= c <= 255 for c in values):
        raise ValueError(f"a colour is three values from 0 to 255, got {colour!r}")
    return values  # type: ignore[return-value]


def outline_width(image: np.ndarray) -> int:
    """The default outline width for an image: about 0.4 % of its longer side."""
    return max(2, round(max(image.shape[:2]) / 250))


def outline_face(
    image: np.ndarray,
    box: Any,
    *,
    colour: tuple[int, int, int] = OUTLINE_COLOUR,
    width: int | None = None,
) -> np.ndarray:
    """A copy of ``image`` with a rectangle around one face.

    The rectangle is drawn just outside the box, so the face itself stays as
    it is; where the box touches the image's edge, that side is drawn just
    inside it instead, so all four sides stay visible. ``width`` defaults to
    :func:`outline_width`.
    """
    image = check_image(image)
    colour = _check_colour(colour)
    height, img_width = image.shape[:2]
    line = outline_width(image) if width is None else int(width)
    if line < 1:
        raise ValueError(f"width must be at least 1 pixel, got {width}")
    clipped = _clip(_box_edges(_as_box(box)), img_width, height)
    if clipped is None:
        raise ValueError(f"the face box {box!r} lies outside the image")
    x0, y0, x1, y1 = clipped
    ox0, oy0 = max(0, x0 - line), max(0, y0 - line)
    ox1, oy1 = min(img_width, x1 + line), min(height, y1 + line)
    ix0, iy0 = min(ox1, ox0 + line), min(oy1, oy0 + line)
    ix1, iy1 = max(ix0, ox1 - line), max(iy0, oy1 - line)
    out = image.copy()
    out[oy0:iy0, ox0:ox1] = colour
    out[iy1:oy1, ox0:ox1] = colour
    out[iy0:iy1, ox0:ix0] = colour
    out[iy0:iy1, ix1:ox1] = colour
    return out


def subject_view(
    image: np.ndarray,
    subject_box: Any,
    other_boxes: Iterable[Any],
    *,
    colour: tuple[int, int, int] = OUTLINE_COLOUR,
) -> np.ndarray:
    """The photo as it goes into the subject's access package: every other
    face anonymised, theirs outlined and otherwise untouched."""
    blurred = blur_faces(image, other_boxes, keep=[subject_box])
    return outline_face(blurred, subject_box, colour=colour)


# -- stored photos ----------------------------------------------------------


def photo_image(photo: Any, *, reduce: int = 1) -> np.ndarray:
    """The photo's stored image as an RGB array, oriented as its face boxes are.

    The file goes through :func:`search.imaging.load_image`, as it did when
    it was ingested, so its EXIF orientation is applied the same way. The
    size limit for uploads does not apply: the file is already ours.
    ``reduce``: a JPEG may come at up to 1/``reduce`` of its size.
    """
    name = photo.image.name
    if not name:
        raise ValueError(f"{photo} has no image file")
    with photo.image.storage.open(name, "rb") as handle:
        raw = handle.read()
    return imaging.load_image(raw, max_bytes=max(len(raw), 1), reduce=reduce)


def regions_around(image: np.ndarray, boxes: Iterable[Any], *, margin: float = 1.0
                   ) -> list[np.ndarray]:
    """The parts of ``image`` around each box, grown by ``margin`` times
    its size on every side and clipped: where a face detector has to look
    to tell whether a redacted face is still there (the rest of the photo
    holds only faces already known)."""
    image = check_image(image)
    height, width = image.shape[:2]
    regions = []
    for box in dict.fromkeys(tuple(_as_box(b)) for b in boxes):
        region = _clip(_grow(box, margin), width, height)
        if region is not None:
            x0, y0, x1, y1 = region
            regions.append(np.ascontiguousarray(image[y0:y1, x0:x1]))
    return regions


def match_crop(photo: Any, box: Any, *, others: Iterable[Any] = (), size: int = 160
               ) -> np.ndarray:
    """:func:`face_crop` of ``box`` at ``size``, decoding no more of the
    photo than that needs: a JPEG whose face is several times ``size`` wide
    is decoded at 1/2, 1/4 or 1/8 scale (draft mode), the boxes scaled
    alike. The others' boxes are blurred as in the full-size crop."""
    left, top, width, height = _as_box(box)
    reduce = 1
    while reduce < 8 and max(width, height) / (reduce * 2) >= size:
        reduce *= 2
    image = photo_image(photo, reduce=reduce)
    full_width = max(int(getattr(photo, "width", 0) or 0), 1)
    scale = image.shape[1] / full_width if reduce > 1 else 1.0
    if reduce > 1 and abs(image.shape[0] / max(int(photo.height), 1) - scale) > 0.02:
        # The stored size does not fit this file (turned by EXIF, say): whole.
        image, scale = photo_image(photo), 1.0

    def scaled(b: Any) -> tuple[float, float, float, float]:
        x, y, w, h = _as_box(b)
        return (x * scale, y * scale, w * scale, h * scale)

    return face_crop(image, scaled(box), others=[scaled(b) for b in others], size=size)


def encode(image: np.ndarray, format: str = "JPEG", quality: int = 90) -> bytes:
    """Encode an image as ``JPEG``, ``PNG`` or ``WEBP``, with no metadata."""
    image = check_image(image)
    kind = format.upper()
    if kind == "JPG":
        kind = "JPEG"
    if kind == "JPEG":
        return imaging.encode_jpeg(image, quality=quality)
    if kind not in {"PNG", "WEBP"}:
        raise ValueError(f"cannot encode images as {format!r}: use JPEG, PNG or WEBP")
    buffer = io.BytesIO()
    options = {"quality": int(quality)} if kind == "WEBP" else {}
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format=kind, **options)
    return buffer.getvalue()


def format_for_name(name: str) -> str:
    """The format a stored file is rewritten in, from its extension
    (JPEG for an extension we do not write, such as HEIC)."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return _FORMAT_BY_EXTENSION.get(extension, "JPEG")


def rewrite_photo_file(photo: Any, image: np.ndarray) -> None:
    """Write ``image`` over the photo's stored file and record its new hash.

    The file keeps its storage name and is encoded in the format its
    extension names, without metadata. On local storage the new content is
    written beside it and moved over the name in one step (a crash leaves
    the old file or the new one, never half of each); the old file's bytes
    are then overwritten with zeros before it is let go. Other storages get
    the name deleted and written again.

    ``photo.sha256`` becomes the hash of the new content (and ``width`` and
    ``height`` follow the image, should they differ), saved with
    ``update_fields``.
    """
    image = check_image(image)
    name = photo.image.name
    if not name:
        raise ValueError(f"{photo} has no image file")
    data = encode(image, format_for_name(name))
    photo.image.close()
    saved = _replace_stored_file(photo.image.storage, name, data)
    fields = ["sha256"]
    if saved != name:  # pragma: no cover - only storages that rename on save
        photo.image.name = saved
        fields.append("image")
    photo.sha256 = hashlib.sha256(data).hexdigest()
    height, width = image.shape[:2]
    if (photo.width, photo.height) != (width, height):
        photo.width, photo.height = width, height
        fields += ["width", "height"]
    photo.save(update_fields=fields)


def _replace_stored_file(storage: Any, name: str, data: bytes) -> str:
    """Put ``data`` under ``name`` in ``storage``, destroying the old content
    where the storage lets us. Returns the name the file is stored under."""
    try:
        path = storage.path(name)
    except NotImplementedError:
        path = None
    if path is None or not os.path.isfile(path):
        if storage.exists(name):
            storage.delete(name)
        return storage.save(name, ContentFile(data))

    directory = os.path.dirname(path)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".redacting-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
        # Hold the old file open across the rename so its content can still
        # be overwritten once the name points at the new one.
        with open(path, "r+b") as old:
            os.replace(temporary, path)
            _fsync_directory(directory)
            _scrub(old)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return name


def _scrub(handle: Any) -> None:
    """Overwrite an open file's bytes with zeros, as far as the file system
    lets a program do that (copy-on-write file systems and SSDs may keep old
    blocks; encrypted storage is the answer there)."""
    size = os.fstat(handle.fileno()).st_size
    handle.seek(0)
    zeros = bytes(min(size, _SCRUB_CHUNK))
    remaining = size
    while remaining > 0:
        handle.write(zeros[:remaining])
        remaining -= min(remaining, len(zeros))
    handle.flush()
    os.fsync(handle.fileno())


def _fsync_directory(directory: str) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(descriptor)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(descriptor)
