"""Installing an insightface model pack with ``manage.py install_face_models``:
the generated stand-ins for buffalo_l install from a zip, their SHA-256 are
recorded and reported by the health detail; a pack that is not buffalo_l's
shape is refused with a sentence and the installed models stay."""

import hashlib
import io
import subprocess
import zipfile

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from onnx import TensorProto, helper, numpy_helper

from portal.models import WorkerHeartbeat
from search.model_pack import HASHES_FILE
from tests.conftest import FACES_DIR
from tests.search.onnx_models import RECOGNISER_FILE, _model, write_insightface_models

pytestmark = pytest.mark.django_db

PHOTO = FACES_DIR / "obama_2.jpg"


@pytest.fixture
def model_dir(settings, tmp_path):
    settings.INSIGHTFACE_MODEL_DIR = tmp_path / "models" / "buffalo_l"
    return settings.INSIGHTFACE_MODEL_DIR


def zipped(folder, path, *, inside="buffalo_l/"):
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(folder.glob("*.onnx")):
            archive.write(file, inside + file.name)
    return path


def install(pack) -> str:
    out = io.StringIO()
    call_command("install_face_models", str(pack), "--photo", str(PHOTO), stdout=out)
    return out.getvalue()


def recogniser_with_output(width: int):
    """An ArcFace-like recogniser whose embedding has ``width`` values."""
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[8, 8],
                         strides=[8, 8]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "projection"], ["683"]),
    ]
    projection = np.random.default_rng(1).standard_normal((588, width)).astype(np.float32)
    graph = helper.make_graph(
        nodes, "wrong_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", width])],
        initializer=[numpy_helper.from_array(projection, name="projection")],
    )
    return _model(graph)


def test_the_generated_pack_installs_from_its_zip_with_recorded_hashes(model_dir, tmp_path,
                                                                       settings):
    pack = zipped(write_insightface_models(tmp_path / "download"), tmp_path / "buffalo_l.zip")
    output = install(pack)

    installed = sorted(p.name for p in model_dir.iterdir())
    assert installed == [HASHES_FILE, "det_10g.onnx", "w600k_r50.onnx"]
    expected = {name: hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
                for name in ("det_10g.onnx", "w600k_r50.onnx")}
    for name, digest in expected.items():
        assert f"{digest}  {name}" in output
    # The record is the standard tool's format.
    checked = subprocess.run(["sha256sum", "-c", HASHES_FILE], cwd=model_dir,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "non-commercial research purposes only" in output
    assert "face(s) on obama_2.jpg with a 512-value embedding" in output

    # The health detail reports the recorded hashes.
    settings.FACE_BACKEND = "insightface"
    settings.HEALTH_TOKEN = "t" * 40
    WorkerHeartbeat.objects.create(queue="search", worker="celery@test", ran_at="2026-01-01T00:00Z",
                                   face_model="insightface", face_model_loaded=True)
    detail = Client(HTTP_AUTHORIZATION="Bearer " + "t" * 40).get("/healthz/detail").json()
    assert detail["face_model"]["files"] == expected


def test_a_pack_with_a_wrong_signature_is_refused_and_the_installed_one_stays(model_dir,
                                                                            tmp_path):
    install(write_insightface_models(tmp_path / "good"))
    before = (model_dir / HASHES_FILE).read_text()

    bad = write_insightface_models(tmp_path / "bad")
    (bad / RECOGNISER_FILE).write_bytes(recogniser_with_output(128).SerializeToString())
    with pytest.raises(CommandError) as refused:
        install(zipped(bad, tmp_path / "bad.zip"))
    message = str(refused.value)
    assert message.startswith("Not installed: w600k_r50.onnx gives [['None', 128]], not one "
                              "embedding of 512 values per face")
    assert (model_dir / HASHES_FILE).read_text() == before
    assert not list(model_dir.parent.glob(".buffalo_l.installing-*"))


def test_a_pack_without_the_detector_or_with_a_foreign_file_is_refused(model_dir, tmp_path):
    folder = write_insightface_models(tmp_path / "partial")
    (folder / "det_10g.onnx").unlink()
    with pytest.raises(CommandError, match="The pack has no det_10g.onnx"):
        install(folder)
    (folder / "det_10g.onnx").write_bytes(b"<html>Not Found</html>")
    with pytest.raises(CommandError, match="det_10g.onnx is not an ONNX model onnxruntime "
                                           "can load"):
        install(folder)
    assert not model_dir.exists()


def test_a_pinned_pack_installs_only_with_the_pinned_hashes(model_dir, tmp_path, settings):
    """INSIGHTFACE_PACK_SHA256: the operator pins the files they vetted; a pack
    whose file differs by one byte is refused before anything is loaded."""
    vetted = write_insightface_models(tmp_path / "vetted")
    pins = {name: hashlib.sha256((vetted / name).read_bytes()).hexdigest()
            for name in ("det_10g.onnx", "w600k_r50.onnx")}
    settings.INSIGHTFACE_PACK_SHA256 = pins
    install(zipped(vetted, tmp_path / "vetted.zip"))
    before = (model_dir / HASHES_FILE).read_text()
    assert all(f"{digest}  {name}" in before for name, digest in pins.items())

    tampered = write_insightface_models(tmp_path / "tampered")
    recogniser = tampered / RECOGNISER_FILE
    recogniser.write_bytes(recogniser.read_bytes() + b"\0")
    with pytest.raises(CommandError) as refused:
        install(zipped(tampered, tmp_path / "tampered.zip"))
    assert str(refused.value).startswith(
        f"Not installed: w600k_r50.onnx has the SHA-256 "
        f"{hashlib.sha256(recogniser.read_bytes()).hexdigest()}, not the "
        f"{pins['w600k_r50.onnx']} that INSIGHTFACE_PACK_SHA256 pins")
    assert (model_dir / HASHES_FILE).read_text() == before
