"""search.backends: the registry, thresholds, the dlib backend on the labelled
test photos and the insightface backend on generated stand-in models."""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys
import threading
import warnings
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import search.backends as backends
from search.backends import (
    BackendUnavailable,
    DetectedFace,
    FaceBackend,
    available_backends,
    get_backend,
)
from search.backends.base import box_overlap
from search.backends.dlib_backend import DlibBackend, five_points_from_dlib
from search.backends.insightface_backend import InsightFaceBackend, alignment_matrix
from search.imaging import load_image
from tests.conftest import FACES_DIR
from tests.search.onnx_models import (
    DETECTOR_FILE,
    RECOGNISER_FILE,
    write_insightface_models,
)

# --- shared fixtures ------------------------------------------------------------


@pytest.fixture(scope="module")
def labels() -> list[dict]:
    with (FACES_DIR / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["left"], row["top"], row["width"] = (
            int(row["left"]), int(row["top"]), int(row["width"])
        )
    return rows


@pytest.fixture(scope="module")
def images(labels) -> dict[str, np.ndarray]:
    return {name: load_image(FACES_DIR / name) for name in sorted({r["file"] for r in labels})}


@pytest.fixture(scope="module")
def dlib_faces(images) -> dict[str, list[DetectedFace]]:
    """Every labelled photo through the dlib backend, once for the module."""
    backend = DlibBackend()
    with override_settings(FACE_DLIB_UPSAMPLE=None):
        return {name: backend.detect(image) for name, image in images.items()}


def labelled_box_contains(row: dict, face: DetectedFace) -> bool:
    x, y = face.center
    return (
        row["left"] <= x <= row["left"] + row["width"]
        and row["top"] <= y <= row["top"] + row["width"]
    )


@pytest.fixture(scope="module")
def labelled_embeddings(labels, dlib_faces) -> list[tuple[str, str, DetectedFace]]:
    """(identity, file, face) for every label, matched by the box's centre."""
    out = []
    for row in labels:
        matches = [f for f in dlib_faces[row["file"]] if labelled_box_contains(row, f)]
        assert len(matches) == 1, f"{row['file']}: {row['identity']} found {len(matches)} times"
        out.append((row["identity"], row["file"], matches[0]))
    return out


@pytest.fixture
def no_calibration(tmp_path):
    """Default thresholds, whatever calibration file the project holds."""
    with override_settings(FACE_CALIBRATION_DIR=tmp_path / "no-calibration"):
        yield


# --- registry -----------------------------------------------------------------------


def test_available_backends():
    assert available_backends() == ["dlib", "insightface"]


def test_get_backend_by_name_and_from_settings():
    dlib = get_backend("dlib")
    assert isinstance(dlib, DlibBackend)
    assert get_backend("dlib") is dlib
    assert get_backend(" DLib ") is dlib
    assert isinstance(get_backend("insightface"), InsightFaceBackend)
    with override_settings(FACE_BACKEND="insightface"):
        assert get_backend() is get_backend("insightface")
    with override_settings(FACE_BACKEND="dlib"):
        assert get_backend() is dlib


def test_unknown_backend():
    with pytest.raises(ValueError) as info:
        get_backend("x")
    assert str(info.value) == "Unknown face model 'x'; choose one of: dlib, insightface"
    with override_settings(FACE_BACKEND="nope"), pytest.raises(ValueError):
        get_backend()


def test_concurrent_first_use_creates_one_instance(monkeypatch):
    monkeypatch.setattr(backends, "_instances", {})
    barrier = threading.Barrier(8)
    seen = []

    def worker():
        barrier.wait()
        seen.append(get_backend("insightface"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8
    assert len({id(backend) for backend in seen}) == 1


def test_importing_backends_loads_no_heavy_library():
    code = (
        "import sys, search.backends, search.backends.dlib_backend, "
        "search.backends.insightface_backend, search.imaging\n"
        "heavy = [m for m in ('dlib', 'onnxruntime', 'insightface', 'cv2', 'onnx') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == ""


def test_backend_attributes():
    dlib, insight = DlibBackend(), InsightFaceBackend()
    assert (dlib.name, dlib.dimension, dlib.metric) == ("dlib", 128, "l2")
    assert (insight.name, insight.dimension, insight.metric) == ("insightface", 512, "cosine")
    for backend in (dlib, insight):
        assert isinstance(backend, FaceBackend)
        assert 0 < backend.default_match_threshold < backend.default_possible_threshold


# --- thresholds ---------------------------------------------------------------------


def test_default_thresholds(no_calibration):
    dlib = DlibBackend()
    assert (dlib.match_threshold, dlib.possible_threshold) == (0.55, 0.62)
    assert dlib.thresholds().source == "default"
    insight = InsightFaceBackend()
    assert (insight.match_threshold, insight.possible_threshold) == (0.60, 0.70)


def test_thresholds_without_a_calibration_folder():
    with override_settings(FACE_CALIBRATION_DIR=None):
        assert DlibBackend().match_threshold == 0.55


def test_thresholds_from_calibration_file(tmp_path):
    calibration = tmp_path / "dlib.json"
    calibration.write_text(json.dumps({
        "match_threshold": 0.5, "possible_threshold": 0.58, "false_accept_rate": 0.0,
    }))
    backend = DlibBackend()
    with override_settings(FACE_CALIBRATION_DIR=tmp_path):
        assert backend.match_threshold == 0.5
        assert backend.possible_threshold == 0.58
        assert backend.thresholds().source == str(calibration)
        # Cached per instance until asked to reload.
        calibration.write_text(json.dumps({"match_threshold": 0.4, "possible_threshold": 0.5}))
        assert backend.match_threshold == 0.5
        backend.reload_calibration()
        assert backend.match_threshold == 0.4
        # Another backend's file is not this one's.
        assert InsightFaceBackend().match_threshold == 0.60


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"match_threshold": 0.5}),
        json.dumps({"match_threshold": "x", "possible_threshold": 0.6}),
        json.dumps({"match_threshold": 0.6, "possible_threshold": 0.5}),
        json.dumps({"match_threshold": 0, "possible_threshold": 0.5}),
        json.dumps([0.5, 0.6]),
    ],
)
def test_invalid_calibration_file(tmp_path, content):
    (tmp_path / "dlib.json").write_text(content)
    with (
        override_settings(FACE_CALIBRATION_DIR=tmp_path),
        pytest.raises(ImproperlyConfigured) as info,
    ):
        DlibBackend().thresholds()
    assert str(tmp_path / "dlib.json") in str(info.value)


# --- distances and faces ----------------------------------------------------------------


def test_distances():
    a = np.array([1, 0, 0], np.float32)
    b = np.array([0, 1, 0], np.float32)
    assert DlibBackend().distance(a, b) == pytest.approx(np.sqrt(2))
    insight = InsightFaceBackend()
    assert insight.distance(a, b) == pytest.approx(1.0)
    assert insight.distance(a, a * 3) == pytest.approx(0.0)
    assert insight.distance(a, -a) == pytest.approx(2.0)
    many = np.stack([a, b, -a])
    assert insight.distances(a, many) == pytest.approx([0.0, 1.0, 2.0])
    assert DlibBackend().distances(a, many) == pytest.approx([0.0, np.sqrt(2), 2.0])


def _face(landmarks, box=(0, 0, 10, 20)) -> DetectedFace:
    return DetectedFace(box=box, landmarks=landmarks, score=1, embedding=np.zeros(4))


def test_detected_face():
    face = _face(((0, 0), (10, 0), (5, 5), (2, 10), (8, 10)), box=(1, 2, 30, 40))
    assert face.size == 30
    assert face.center == (16.0, 22.0)
    assert face.head_turn() == 0.0
    assert face.embedding.dtype == np.float32 and face.embedding.shape == (4,)
    assert not face.embedding.flags.writeable
    assert isinstance(face.box[0], int) and isinstance(face.score, float)
    with pytest.raises(AttributeError):
        face.score = 2.0
    # Nose towards the image-right eye: positive; towards the left: negative.
    assert _face(((0, 0), (10, 0), (7, 5), (2, 10), (8, 10))).head_turn() == pytest.approx(0.2)
    assert _face(((0, 0), (10, 0), (3, 5), (2, 10), (8, 10))).head_turn() == pytest.approx(-0.2)
    # Measured along the eye line, so a tilted head gives the same value.
    angle = np.radians(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = np.array(((0, 0), (10, 0), (7, 5), (2, 10), (8, 10)), float) @ rotation.T
    assert _face(tuple(map(tuple, points))).head_turn() == pytest.approx(0.2)
    with pytest.raises(ValueError):
        _face(((0, 0),) * 4)
    with pytest.raises(ValueError):
        _face(((0, 0),) * 5, box=(0, 0, 0, 5))


def test_five_points_from_dlib_order_and_mouth_estimate():
    # dlib: right eye corners (image right) first, then left eye, nose base.
    points = np.array([[70, 50], [60, 50], [30, 50], [40, 50], [50, 70]], float)
    left_eye, right_eye, nose, mouth_left, mouth_right = five_points_from_dlib(points)
    assert left_eye == (35.0, 50.0) and right_eye == (65.0, 50.0)
    assert nose == (50.0, 70.0)
    # Mouth below the nose, symmetric, 0.41 inter-eye distances either side.
    assert mouth_left[1] == pytest.approx(50 + 20 * 1.4)
    assert mouth_right[1] == pytest.approx(mouth_left[1])
    assert mouth_left[0] == pytest.approx(50 - 0.41 * 30)
    assert mouth_right[0] == pytest.approx(50 + 0.41 * 30)


# --- dlib on the labelled photos ------------------------------------------------------


def test_dlib_finds_every_labelled_face_and_nothing_else(labels, dlib_faces, labelled_embeddings):
    per_file = defaultdict(int)
    for row in labels:
        per_file[row["file"]] += 1
    assert {name: len(faces) for name, faces in dlib_faces.items()} == dict(per_file)
    assert len(labelled_embeddings) == len(labels) == 32


def test_dlib_faces_are_well_formed(images, dlib_faces):
    for name, faces in dlib_faces.items():
        height, width = images[name].shape[:2]
        areas = [f.box[2] * f.box[3] for f in faces]
        assert areas == sorted(areas, reverse=True), f"{name}: not largest first"
        for face in faces:
            left, top, w, h = face.box
            assert left >= 0 and top >= 0 and left + w <= width and top + h <= height
            assert face.embedding.shape == (128,) and face.embedding.dtype == np.float32
            assert np.isfinite(face.embedding).all()
            assert face.score > 0
            (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = face.landmarks
            assert lx < nx < rx, name
            assert max(ly, ry) < ny < min(mly, mry), name
            assert mlx < mrx, name


def test_dlib_clips_a_face_cut_by_the_border(dlib_faces):
    (face,) = dlib_faces["obama_7_partial.jpg"]
    assert face.box[0] == 0  # the detector's box starts left of the image


def test_dlib_finds_small_and_aligned_faces(dlib_faces):
    assert len(dlib_faces["obama_6_small.jpg"]) == 1
    assert len(dlib_faces["tom_hanks_1_aligned112.png"]) == 1
    assert len(dlib_faces["group_six_people.jpg"]) == 6


def test_dlib_locate_then_describe_gives_what_detect_gives(images, dlib_faces):
    """The camera check's quick way (the grey picture, no upsampling, no
    descriptor until asked) finds the same large faces, and a face it
    describes is the same person to the model as :meth:`detect`'s."""
    backend = DlibBackend()
    for name in ("obama_1.jpg", "biden_1.jpg", "kit_harington_2.jpg"):
        (located,) = backend.locate(images[name])
        (detected,) = dlib_faces[name]
        assert not located.described and detected.described
        overlap = box_overlap(located.box, detected.box)
        assert overlap > 0.6, (name, overlap)
        described = backend.describe(images[name], located)
        assert described.described and described.box == located.box
        assert backend.distance(described.embedding, detected.embedding) < 0.1, name
    # A small face (under 80 px) is found the usual way when the quick way
    # finds none.
    (face,) = dlib_faces["obama_1.jpg"]
    scale = 50 / face.box[2]
    image = images["obama_1.jpg"]
    smaller = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                         interpolation=cv2.INTER_AREA)
    (small,) = backend.locate(smaller)
    assert small.size < 80


def _pair_distances(backend, labelled_embeddings):
    same, different = [], []
    for (id_a, file_a, a), (id_b, file_b, b) in itertools.combinations(labelled_embeddings, 2):
        distance = backend.distance(a.embedding, b.embedding)
        (same if id_a == id_b else different).append((distance, file_a, file_b))
    return same, different


def test_dlib_same_person_within_match_threshold_others_beyond_possible(
    labelled_embeddings, no_calibration
):
    backend = DlibBackend()
    assert backend.thresholds().source == "default"
    same, different = _pair_distances(backend, labelled_embeddings)
    assert len(same) == 54 and len(different) == 442
    # Measured: same person 0.053-0.519, different people 0.628-1.108.
    assert max(same)[0] < backend.match_threshold, max(same)
    assert min(different)[0] > backend.possible_threshold, min(different)
    # The README's promise: one cut at 0.6 separates them all.
    assert max(same)[0] < 0.6 < min(different)[0]


def test_dlib_project_calibration_separates_the_labelled_faces(labelled_embeddings):
    backend = DlibBackend()
    same, different = _pair_distances(backend, labelled_embeddings)
    assert max(same)[0] < backend.match_threshold < backend.possible_threshold
    assert backend.possible_threshold < min(different)[0]


def test_dlib_rescaled_copies_are_nearly_identical(dlib_faces):
    backend = DlibBackend()
    original = dlib_faces["obama_1.jpg"][0].embedding
    for copy in ("obama_5.jpg", "obama_6_small.jpg"):
        assert backend.distance(original, dlib_faces[copy][0].embedding) < 0.1


def test_dlib_head_turn_signs(dlib_faces):
    turn = {name: dlib_faces[name][0].head_turn() for name in (
        "obama_1.jpg", "obama_2.jpg", "obama_4.jpg", "kit_harington_2.jpg",
        "kit_harington_3.jpg", "alex_lacamoire_1.png", "alex_lacamoire_2.jpg",
    )}
    # Measured with the 5-point model: obama_1 -0.01, obama_2 -0.13,
    # obama_4 +0.14, kit_2 -0.17, kit_3 +0.12, alex_1 +0.13, alex_2 -0.01.
    assert abs(turn["obama_1.jpg"]) < 0.05
    assert abs(turn["alex_lacamoire_2.jpg"]) < 0.05
    assert turn["obama_2.jpg"] < -0.08
    assert turn["kit_harington_2.jpg"] < -0.08
    assert turn["obama_4.jpg"] > 0.08
    assert turn["kit_harington_3.jpg"] > 0.08
    assert turn["alex_lacamoire_1.png"] > 0.08


def test_dlib_large_images_are_detected_on_a_smaller_copy(images, dlib_faces):
    backend = DlibBackend()
    with override_settings(FACE_DLIB_MAX_DETECT_SIDE=600):
        (face,) = backend.detect(images["obama_1.jpg"])
    (full,) = dlib_faces["obama_1.jpg"]
    # Box in the full image's pixels, landmarks and descriptor from it.
    assert abs(face.center[0] - full.center[0]) < 0.1 * full.size
    assert abs(face.center[1] - full.center[1]) < 0.1 * full.size
    assert backend.distance(face.embedding, full.embedding) < 0.1


def test_dlib_upsampling_rule():
    with override_settings(FACE_DLIB_UPSAMPLE=None):
        assert DlibBackend.upsample_for(240, 320) == 2
        assert DlibBackend.upsample_for(112, 112) == 2
        assert DlibBackend.upsample_for(1137, 910) == 1
    with override_settings(FACE_DLIB_UPSAMPLE=0):
        assert DlibBackend.upsample_for(240, 320) == 0


def test_dlib_on_an_image_without_faces():
    backend = get_backend("dlib")
    assert backend.detect(np.full((120, 160, 3), 128, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    assert backend.detect(noise) == []


def test_detect_refuses_what_is_not_an_rgb_image():
    backend = get_backend("dlib")
    for bad in (
        np.zeros((50, 50), np.uint8),
        np.zeros((50, 50, 4), np.uint8),
        np.zeros((50, 50, 3), np.float32),
        np.zeros((0, 50, 3), np.uint8),
    ):
        with pytest.raises(ValueError):
            backend.detect(bad)


# --- insightface on generated models ------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return write_insightface_models(tmp_path_factory.mktemp("buffalo_l"))


@pytest.fixture
def insightface(settings, model_dir) -> FaceBackend:
    settings.INSIGHTFACE_MODEL_DIR = model_dir
    return get_backend("insightface")


def test_generated_models_pass_for_buffalo_l(model_dir):
    from insightface.model_zoo import get_model
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX
    from insightface.model_zoo.scrfd import SCRFD

    detector = get_model(str(model_dir / DETECTOR_FILE), providers=["CPUExecutionProvider"])
    recogniser = get_model(str(model_dir / RECOGNISER_FILE), providers=["CPUExecutionProvider"])
    assert isinstance(detector, SCRFD) and detector.taskname == "detection"
    assert detector.use_kps and detector.fmc == 3 and detector._num_anchors == 2
    assert isinstance(recogniser, ArcFaceONNX) and recogniser.taskname == "recognition"
    assert recogniser.input_size == (112, 112) and recogniser.output_shape[-1] == 512
    assert (recogniser.input_mean, recogniser.input_std) == (127.5, 127.5)
    total = sum(p.stat().st_size for p in model_dir.glob("*.onnx"))
    assert total < 5 * 1024 * 1024


def test_generated_detector_depends_on_the_image(model_dir):
    from insightface.model_zoo import get_model

    detector = get_model(str(model_dir / DETECTOR_FILE), providers=["CPUExecutionProvider"])
    detector.prepare(-1, input_size=(640, 640), det_thresh=0.5)
    grey = np.full((480, 640, 3), 128, np.uint8)
    boxes, _ = detector.detect(grey)
    assert len(boxes) == 0
    # A skin-coloured disc on a dark blue background is found where it is.
    picture = np.zeros((480, 640, 3), np.uint8)
    picture[:] = (90, 40, 20)  # BGR: dark blue
    yy, xx = np.mgrid[:480, :640]
    picture[(xx - 420) ** 2 + (yy - 200) ** 2 < 70**2] = (140, 170, 225)  # BGR skin
    boxes, kpss = detector.detect(picture)
    assert len(boxes) >= 1
    x1, y1, x2, y2, score = boxes[0]
    assert score > 0.5
    assert x1 < 420 < x2 and y1 < 200 < y2
    assert ((kpss[0] >= 0) & (kpss[0] < (640, 480))).all()
    # Move the disc: the box follows.
    moved = np.roll(picture, -250, axis=1)
    boxes2, _ = detector.detect(moved)
    assert len(boxes2) >= 1 and boxes2[0][0] < x1 - 200


def test_insightface_backend_on_a_photo(insightface, images):
    image = images["obama_2.jpg"]
    height, width = image.shape[:2]
    faces = insightface.detect(image)
    assert faces
    areas = [f.box[2] * f.box[3] for f in faces]
    assert areas == sorted(areas, reverse=True)
    for face in faces:
        assert face.embedding.shape == (512,) and face.embedding.dtype == np.float32
        assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)
        left, top, w, h = face.box
        assert left >= 0 and top >= 0 and left + w <= width and top + h <= height
        assert len(face.landmarks) == 5
        assert 0.5 <= face.score <= 1.0
    # The best detection here lies on the face, keypoints inside the image.
    best = max(faces, key=lambda f: f.score)
    assert all(0 <= x < width and 0 <= y < height for x, y in best.landmarks)
    (left_eye, right_eye, nose, mouth_left, mouth_right) = best.landmarks
    assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < mouth_right[0]


def test_insightface_embeddings_are_deterministic_and_differ_between_photos(
    insightface, images
):
    first = insightface.detect(images["obama_2.jpg"])
    again = insightface.detect(images["obama_2.jpg"].copy())
    assert [f.box for f in first] == [f.box for f in again]
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.embedding, b.embedding)
    other = insightface.detect(images["lin_manuel_miranda_1.png"])
    assert other
    assert insightface.distance(first[0].embedding, other[0].embedding) > 0.05
    assert insightface.distance(first[0].embedding, first[0].embedding) == pytest.approx(0.0)


def test_insightface_on_an_image_without_skin(insightface):
    assert insightface.detect(np.full((300, 400, 3), 128, np.uint8)) == []


def test_insightface_missing_folder(settings, tmp_path):
    missing = tmp_path / "models" / "buffalo_l"
    settings.INSIGHTFACE_MODEL_DIR = missing
    backend = InsightFaceBackend()
    with pytest.raises(BackendUnavailable) as info:
        backend.detect(np.zeros((100, 100, 3), np.uint8))
    message = str(info.value)
    assert isinstance(info.value, ImproperlyConfigured)
    assert str(missing) in message
    assert "does not exist" in message
    assert "buffalo_l.zip" in message and "insightface" in message


def test_insightface_folder_without_recogniser(tmp_path, model_dir):
    folder = tmp_path / "partial"
    folder.mkdir()
    (folder / DETECTOR_FILE).write_bytes((model_dir / DETECTOR_FILE).read_bytes())
    (folder / "notes.onnx").write_bytes(b"not a model")
    with pytest.raises(BackendUnavailable) as info:
        InsightFaceBackend(folder).load()
    message = str(info.value)
    assert "no face recognition model" in message
    assert "notes.onnx" in message
    assert "buffalo_l.zip" in message


def test_insightface_follows_the_configured_folder(settings, tmp_path, model_dir):
    backend = InsightFaceBackend()
    settings.INSIGHTFACE_MODEL_DIR = model_dir
    backend.load()
    settings.INSIGHTFACE_MODEL_DIR = tmp_path / "elsewhere"
    with pytest.raises(BackendUnavailable):
        backend.load()
    settings.INSIGHTFACE_MODEL_DIR = model_dir
    backend.load()


def test_alignment_matches_insightface():
    from insightface.utils import face_align

    points = np.array([[100, 120], [160, 118], [131, 150], [108, 181], [152, 178]], float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # skimage's estimate()
        for size in (112, 128):
            expected = face_align.estimate_norm(points, size)
            assert np.allclose(alignment_matrix(points, size), expected, atol=1e-4)
    assert alignment_matrix(np.zeros((5, 2)), 112) is None
