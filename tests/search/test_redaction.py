"""Crops, blurring, outlines and erasure of faces in scraped photos."""

import csv
import hashlib
import io
import os

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage
from django.utils import timezone
from PIL import Image

from search import redaction
from search.backends import get_backend
from search.imaging import load_image
from search.models import Photo
from search.redaction import (
    blur_faces,
    encode,
    face_crop,
    outline_face,
    photo_image,
    redact_face,
    rewrite_photo_file,
    subject_view,
)
from tests.conftest import FACES_DIR


def labelled_boxes(file_name):
    """identity -> (left, top, width, height) of the labelled (square) boxes."""
    with (FACES_DIR / "labels.csv").open(newline="", encoding="utf-8") as handle:
        return {
            row["identity"]: (int(row["left"]), int(row["top"]), int(row["width"]),
                              int(row["width"]))
            for row in csv.DictReader(handle)
            if row["file"] == file_name
        }


def roughness(pixels):
    """Detail left in an area: the mean absolute second difference between
    neighbouring pixels (near 0 for a flat area or a smooth gradient)."""
    values = pixels.astype(np.float64)
    return float(
        np.abs(np.diff(values, 2, axis=0)).mean() + np.abs(np.diff(values, 2, axis=1)).mean()
    )


def window(image, box):
    left, top, width, height = box
    return image[top:top + height, left:left + width]


def reloaded(image):
    """The image as it would be served or stored: encoded as JPEG and read back."""
    return load_image(encode(image))


@pytest.fixture(scope="module")
def dlib():
    return get_backend("dlib")


@pytest.fixture(scope="module")
def obama_biden():
    return load_image(FACES_DIR / "group_obama_biden.jpg")


@pytest.fixture(scope="module")
def two_people(dlib):
    """group_two_people.jpg, its two faces found by dlib (Biden, Obama)."""
    image = load_image(FACES_DIR / "group_two_people.jpg")
    faces = dlib.detect(image)
    assert len(faces) == 2
    biden, obama = sorted(faces, key=lambda f: -f.box[0])
    labels = labelled_boxes("group_two_people.jpg")
    assert abs(obama.box[0] - labels["obama"][0]) < 10
    assert abs(biden.box[0] - labels["biden"][0]) < 10
    image.flags.writeable = False  # no test may change it in place
    return image, obama, biden


def near(face, box):
    """Whether a detected face's centre lies in the box grown by half its size."""
    cx, cy = face.center
    left, top, width, height = box
    return (left - width / 2 <= cx <= left + 1.5 * width
            and top - height / 2 <= cy <= top + 1.5 * height)


# -- crops ------------------------------------------------------------------


def test_a_face_crop_is_exactly_the_box_and_nothing_around_it(obama_biden):
    boxes = labelled_boxes("group_obama_biden.jpg")
    obama = boxes["obama"]
    others = [box for who, box in boxes.items() if who != "obama"]
    crop = face_crop(obama_biden, obama, others=others)
    assert crop.shape == (224, 224, 3)
    assert np.array_equal(crop, window(obama_biden, obama))
    assert crop.dtype == np.uint8


def test_a_face_crop_is_clipped_to_the_image_and_accepts_face_objects(obama_biden):
    class Face:
        box = (1900, 1300, 224, 224)

    crop = face_crop(obama_biden, Face())
    assert crop.shape == (128, 100, 3)
    assert np.array_equal(crop, obama_biden[1300:, 1900:])
    with pytest.raises(ValueError):
        face_crop(obama_biden, (5000, 5000, 10, 10))
    with pytest.raises(ValueError):
        face_crop(obama_biden, (10, 10, 0, 10))


def test_a_face_crop_takes_a_small_margin_and_makes_square_thumbnails(obama_biden):
    obama = labelled_boxes("group_obama_biden.jpg")["obama"]
    crop = face_crop(obama_biden, obama, margin=0.1)
    # 22.4 pixels more on each side, partly covered pixels included.
    assert crop.shape == (270, 270, 3)
    assert np.array_equal(crop, obama_biden[367:637, 1110:1380])
    with pytest.raises(ValueError):
        face_crop(obama_biden, obama, margin=2)

    thumbnail = face_crop(obama_biden, obama, size=160)
    assert thumbnail.shape == (160, 160, 3)
    tall = face_crop(obama_biden, (1133, 390, 112, 224), size=160)
    assert tall.shape == (160, 160, 3)
    # A box that is not square is centred between bands of the fill colour.
    assert (tall[:, :40] == 255).all() and (tall[:, 120:] == 255).all()
    assert not (tall[:, 40:120] == 255).all()


def test_another_face_overlapping_a_crop_is_blurred_within_it(obama_biden):
    obama = labelled_boxes("group_obama_biden.jpg")["obama"]
    # Someone whose face covers the right half of Obama's box.
    stranger = (1245, 300, 224, 224)
    crop = face_crop(obama_biden, obama, others=[stranger])
    original = window(obama_biden, obama)
    assert crop.shape == original.shape
    # Rows 0-133 of the crop, columns 112 on, belong to the stranger's box.
    theirs = crop[:134, 112:]
    assert not np.array_equal(theirs, original[:134, 112:])
    assert roughness(theirs) < 0.25 * roughness(original[:134, 112:])
    # The rest of Obama's own face is left as it is.
    assert np.array_equal(crop[:, :112], original[:, :112])
    assert np.array_equal(crop[134:], original[134:])
    assert np.array_equal(window(obama_biden, obama), original)  # input untouched


# -- blurring ---------------------------------------------------------------


def test_blurring_a_face_cannot_be_undone_and_leaves_the_other_face_alone(dlib, two_people):
    image, obama, biden = two_people
    blurred = blur_faces(image, [obama.box])
    assert blurred is not image

    faces = dlib.detect(reloaded(blurred))
    [found_biden] = [f for f in faces if dlib.distance(f.embedding, biden.embedding) < 0.05]
    assert found_biden.box == biden.box
    for face in faces:
        assert dlib.distance(face.embedding, obama.embedding) > dlib.possible_threshold
        assert not near(face, obama.box)

    # The area is smooth: no detail of the face is left in it.
    assert roughness(window(blurred, obama.box)) < 0.1 * roughness(window(image, obama.box))


def test_only_the_mosaic_cells_averages_survive_blurring(obama_biden):
    # A 200-pixel box, not grown: at the default strength its cells are
    # 40 x 40 pixels laid from its corner. Shuffling the pixels inside each
    # cell (which keeps only its average) must not change the result.
    box = (1130, 400, 200, 200)
    shuffled = obama_biden.copy()
    rng = np.random.default_rng(11)
    for top in range(400, 600, 40):
        for left in range(1130, 1330, 40):
            cell = shuffled[top:top + 40, left:left + 40].reshape(-1, 3)
            shuffled[top:top + 40, left:left + 40] = rng.permutation(cell).reshape(40, 40, 3)
    assert not np.array_equal(shuffled, obama_biden)
    assert np.array_equal(
        blur_faces(shuffled, [box], grow=0), blur_faces(obama_biden, [box], grow=0)
    )


def test_blurring_every_face_of_a_group_photo_leaves_no_face(dlib):
    image = load_image(FACES_DIR / "group_six_people.jpg")
    boxes = list(labelled_boxes("group_six_people.jpg").values())
    assert len(boxes) == 6
    assert dlib.detect(reloaded(blur_faces(image, boxes))) == []


def test_blurring_changes_only_the_grown_boxes(obama_biden):
    biden = labelled_boxes("group_obama_biden.jpg")["biden"]  # 737, 449, 187
    blurred = blur_faces(obama_biden, [biden])
    grow = round(0.15 * 187)  # 28
    changed = np.argwhere((blurred != obama_biden).any(axis=2))
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    assert 449 - grow - 1 <= top and bottom <= 449 + 187 + grow
    assert 737 - grow - 1 <= left and right <= 737 + 187 + grow
    # The grown area is covered, not just the box.
    assert (blurred[449 - grow + 2:449 + 187 + grow - 2, 737 - grow + 2] != obama_biden[
        449 - grow + 2:449 + 187 + grow - 2, 737 - grow + 2]).any()


def test_blur_strength_is_bounded(obama_biden):
    box = labelled_boxes("group_obama_biden.jpg")["biden"]
    with pytest.raises(ValueError):
        blur_faces(obama_biden, [box], strength=0.05)
    flat = blur_faces(obama_biden, [box], strength=1.0, grow=0)
    # One cell: the box is a single colour (bar the blur's rounding).
    assert np.ptp(window(flat, box).reshape(-1, 3), axis=0).max() <= 1
    with pytest.raises(ValueError):
        blur_faces(obama_biden[:, :, 0], [box])


def test_a_face_cut_by_the_image_edge_is_pixelated_as_coarsely_as_a_whole_one(obama_biden):
    box = (1900, 1300, 224, 224)  # only 100 x 128 of it inside the image
    blurred = blur_faces(obama_biden, [box])
    corner = blurred[1300:, 1900:]
    assert roughness(corner) < 0.1 * roughness(obama_biden[1300:, 1900:])


# -- outlines and the subject's view ---------------------------------------


def test_the_outline_surrounds_the_box_and_scales_with_the_image(obama_biden):
    box = labelled_boxes("group_obama_biden.jpg")["obama"]  # 1133, 390, 224
    outlined = outline_face(obama_biden, box)
    width = redaction.outline_width(obama_biden)
    assert width == 8  # 2000 pixels wide
    colour = np.array([255, 196, 0], dtype=np.uint8)
    assert (outlined[390 - width:390, 1133 - width:1357 + width] == colour).all()
    assert (outlined[614:614 + width, 1133 - width:1357 + width] == colour).all()
    assert (outlined[390:614, 1133 - width:1133] == colour).all()
    assert (outlined[390:614, 1357:1357 + width] == colour).all()
    assert np.array_equal(window(outlined, box), window(obama_biden, box))
    changed = (outlined != obama_biden).any(axis=2)
    changed[390 - width:614 + width, 1133 - width:1357 + width] = False
    assert not changed.any()

    small = np.zeros((100, 120, 3), dtype=np.uint8)
    assert redaction.outline_width(small) == 2
    thick = outline_face(small, (10, 10, 50, 50), width=5, colour=(0, 255, 0))
    assert (thick[5:10, 5:65] == (0, 255, 0)).all()


def test_an_outline_at_the_image_edge_is_drawn_inside_the_box():
    image = np.full((100, 100, 3), 50, dtype=np.uint8)
    outlined = outline_face(image, (0, 0, 40, 40), width=3)
    colour = (255, 196, 0)
    assert (outlined[0:3, 0:43] == colour).all()  # top band inside the box
    assert (outlined[0:43, 0:3] == colour).all()  # left band inside the box
    assert (outlined[40:43, 0:43] == colour).all()  # bottom band outside
    assert (outlined[3:40, 3:40] == 50).all()
    with pytest.raises(ValueError):
        outline_face(image, (0, 0, 40, 40), colour=(300, 0, 0))


def test_the_subject_view_blurs_the_others_and_keeps_the_subjects_face(obama_biden):
    boxes = labelled_boxes("group_obama_biden.jpg")
    subject = boxes["obama"]
    others = [box for who, box in boxes.items() if who != "obama"]
    view = subject_view(obama_biden, subject, others)
    assert np.array_equal(window(view, subject), window(obama_biden, subject))
    for box in others:
        assert roughness(window(view, box)) < 0.1 * roughness(window(obama_biden, box))
    width = redaction.outline_width(obama_biden)
    left, top, size, _ = subject
    assert (view[top - width:top, left:left + size] == (255, 196, 0)).all()


def test_the_subject_view_keeps_their_face_even_when_a_neighbour_is_close(obama_biden):
    subject = labelled_boxes("group_obama_biden.jpg")["obama"]
    # A neighbour whose grown box (but not their box) would reach into the subject's.
    neighbour = (1133 + 224 + 10, 390, 224, 224)
    view = subject_view(obama_biden, subject, [neighbour])
    assert np.array_equal(window(view, subject), window(obama_biden, subject))
    assert roughness(window(view, neighbour)) < 0.1 * roughness(window(obama_biden, neighbour))


# -- erasure ----------------------------------------------------------------


def test_a_redacted_face_holds_nothing_of_the_face(two_people):
    image, obama, biden = two_people
    redacted = redact_face(image, obama.box, keep=[biden.box])
    left, top, width, height = obama.box
    grow = 0.25
    x0, y0 = int(left - grow * width), int(top - grow * height)
    x1, y1 = int(left + width * (1 + grow)) + 1, int(top + height * (1 + grow)) + 1
    outside = np.ones(image.shape[:2], dtype=bool)
    outside[max(0, y0):y1, max(0, x0):x1] = False
    assert np.array_equal(redacted[outside], image[outside])

    # Whatever the face looked like, the result is the same: it is made only
    # of the pixels around it.
    noise = np.random.default_rng(7).integers(0, 256, image.shape, dtype=np.uint8)
    other = image.copy()
    ox0, oy0 = max(0, round(left - grow * width)), max(0, round(top - grow * height))
    ox1, oy1 = round(left + width * (1 + grow)), round(top + height * (1 + grow))
    other[oy0:oy1, ox0:ox1] = noise[oy0:oy1, ox0:ox1]
    assert np.array_equal(redact_face(other, obama.box, keep=[biden.box]), redacted)


def test_redaction_fills_a_face_covering_the_whole_image():
    image = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    redacted = redact_face(image, (0, 0, 64, 64))
    assert np.ptp(redacted.reshape(-1, 3), axis=0).max() == 0


# -- stored photos ----------------------------------------------------------


def store_photo(data, name, *, width, height):
    photo = Photo(
        source_url=f"https://photos.example/{name}",
        site="redaction.example",
        scraped_at=timezone.now(),
        file_name=name,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    photo.image.save(name, ContentFile(data), save=False)
    photo.save()
    return photo


@pytest.fixture
def stored_photos(settings, tmp_path):
    """Photos stored by a test, in a media folder of its own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    photos = []
    yield photos
    for photo in photos:
        photo.image.delete(save=False)


@pytest.mark.django_db
def test_an_erased_face_is_gone_from_the_stored_photo(dlib, two_people, stored_photos, settings):
    image, obama, biden = two_people
    original = (FACES_DIR / "group_two_people.jpg").read_bytes()
    photo = store_photo(original, "group_two_people.jpg", width=1126, height=661)
    stored_photos.append(photo)
    path = photo.image.path
    name = photo.image.name
    assert path.startswith(str(settings.MEDIA_ROOT))  # the test's own media folder
    assert np.array_equal(photo_image(photo), image)
    # A second name for the same file: where the original bytes would linger.
    spare = path + ".link"
    os.link(path, spare)
    try:
        rewrite_photo_file(photo, redact_face(photo_image(photo), obama.box, keep=[biden.box]))
        with open(spare, "rb") as handle:
            assert handle.read() == bytes(len(original))  # scrubbed
    finally:
        os.unlink(spare)

    assert photo.image.name == name and photo.image.path == path
    with open(path, "rb") as handle:
        new = handle.read()
    assert new != original and new.startswith(b"\xff\xd8\xff")
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".redacting")]
    photo.refresh_from_db()
    assert photo.sha256 == hashlib.sha256(new).hexdigest()
    assert (photo.width, photo.height) == (1126, 661)

    faces = dlib.detect(photo_image(photo))
    assert len(faces) == 1
    assert dlib.distance(faces[0].embedding, biden.embedding) < 0.05
    assert dlib.distance(faces[0].embedding, obama.embedding) > dlib.possible_threshold


def exif_rotated_jpeg(pixels):
    """A JPEG whose stored pixels are ``pixels`` turned, with the EXIF
    orientation (6: rotate 90° clockwise to view) that turns them back."""
    stored = Image.fromarray(pixels).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()


@pytest.mark.django_db
def test_stored_photos_are_read_upright_and_stay_upright(stored_photos):
    upright = load_image(FACES_DIR / "obama_6_small.jpg")
    data = exif_rotated_jpeg(upright)
    photo = store_photo(data, "rotated.jpeg", width=upright.shape[1], height=upright.shape[0])
    stored_photos.append(photo)
    read = photo_image(photo)
    assert read.shape == upright.shape
    assert np.abs(read.astype(int) - upright).mean() < 4

    rewrite_photo_file(photo, read)
    with Image.open(photo.image.path) as written:
        assert written.format == "JPEG"
        assert written.getexif().get(0x0112) is None
    again = photo_image(photo)
    assert again.shape == upright.shape
    assert np.abs(again.astype(int) - read).mean() < 3


@pytest.mark.django_db
def test_a_png_photo_is_rewritten_as_png(stored_photos):
    pixels = load_image(FACES_DIR / "obama_6_small.jpg")
    photo = store_photo(encode(pixels, "PNG"), "face.png", width=pixels.shape[1],
                        height=pixels.shape[0])
    stored_photos.append(photo)
    box = (10, 10, 30, 30)
    redacted = redact_face(pixels, box)
    rewrite_photo_file(photo, redacted)
    with open(photo.image.path, "rb") as handle:
        data = handle.read()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert np.array_equal(photo_image(photo), redacted)
    assert Photo.objects.get(pk=photo.pk).sha256 == hashlib.sha256(data).hexdigest()


def test_files_on_other_storages_are_replaced_under_the_same_name():
    storage = InMemoryStorage()
    name = storage.save("photos/ab/photo.jpg", ContentFile(b"original face"))
    saved = redaction._replace_stored_file(storage, name, b"redacted")
    assert saved == name
    assert storage.open(name).read() == b"redacted"
    assert storage.listdir("photos/ab")[1] == ["photo.jpg"]


def test_encode_writes_jpeg_png_and_webp_only(obama_biden):
    small = obama_biden[:64, :64]
    assert encode(small).startswith(b"\xff\xd8\xff")
    assert encode(small, "jpg", quality=50).startswith(b"\xff\xd8\xff")
    png = encode(small, "png")
    assert np.array_equal(load_image(png), small)
    assert encode(small, "WEBP")[8:12] == b"WEBP"
    with pytest.raises(ValueError):
        encode(small, "GIF")
    assert redaction.format_for_name("photos/x/y.PNG") == "PNG"
    assert redaction.format_for_name("photos/x/y.heic") == "JPEG"
