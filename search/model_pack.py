"""Installing an insightface model pack (``buffalo_l``) the operator downloaded.

:func:`install_pack` takes the pack as a zip or a folder, checks it before
anything is replaced, and installs it:

1. the expected files are there (``det_10g.onnx``, the SCRFD detector, and
   ``w600k_r50.onnx``, the ArcFace recogniser; the pack's other models are
   not used and not installed);
2. each model's inputs and outputs have buffalo_l's signature, read by
   onnxruntime: the detector takes ``[1, 3, H, W]`` and gives scores, boxes
   and five landmarks for three strides (nine outputs of widths 1, 4 and
   10); the recogniser takes ``[N, 3, 112, 112]`` and gives ``[N, 512]``;
3. the portal's own insightface backend, on the checked files, finds a face
   on a photo and computes its 512-value embedding;
4. where the operator pinned the files' SHA-256 (``INSIGHTFACE_PACK_SHA256``,
   checked first, before any file is loaded), they match;
5. the files are copied into a new folder beside ``INSIGHTFACE_MODEL_DIR``
   with their SHA-256 in ``SHA256SUMS`` (``sha256sum -c SHA256SUMS`` checks
   them), and that folder takes the place of the old one, which is kept
   under a dated name.

Each refusal is a :class:`PackRefused` with a sentence for the operator.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from search.backends import BackendUnavailable
from search.backends.insightface_backend import InsightFaceBackend
from search.imaging import ImageError, load_image

DETECTOR_FILE = "det_10g.onnx"
RECOGNISER_FILE = "w600k_r50.onnx"
REQUIRED_FILES = (DETECTOR_FILE, RECOGNISER_FILE)
HASHES_FILE = "SHA256SUMS"
EMBEDDING_SIZE = 512
# The largest model file we accept (buffalo_l's recogniser is 174 MB).
MAX_FILE_BYTES = 1024 * 1024 * 1024

LICENCE_NOTE = (
    "Licence: insightface's pretrained model packs (buffalo_l and the others) are released "
    "for non-commercial research purposes only "
    "(https://github.com/deepinsight/insightface#license). Running them in a company's "
    "service is commercial use: obtain a commercial licence from InsightFace "
    "(https://www.insightface.ai) first, or keep FACE_BACKEND=dlib (dlib's models are under "
    "the Boost Software License and CC0)."
)


class PackRefused(Exception):
    """The pack is not one the portal can use; the message says why."""


@dataclass(frozen=True)
class Installed:
    folder: Path
    hashes: dict[str, str]
    faces_on_photo: int
    replaced: Path | None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recorded_hashes(folder: Path) -> dict[str, str]:
    """The SHA-256 recorded at installation (empty when none was)."""
    path = Path(folder) / HASHES_FILE
    if not path.is_file():
        return {}
    hashes = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if digest and name:
            hashes[name.strip()] = digest.strip()
    return hashes


def files_match(folder: Path) -> bool | None:
    """Whether the files are still those installed (None: nothing recorded)."""
    recorded = recorded_hashes(folder)
    if not recorded:
        return None
    return all((Path(folder) / name).is_file() and sha256_of(Path(folder) / name) == digest
               for name, digest in recorded.items())


# -- finding the files --------------------------------------------------------------


def _extract(pack: Path, into: Path) -> Path:
    """The required files of a zip, written flat into ``into`` (a member's
    own path is never used, so nothing lands outside it)."""
    try:
        archive = zipfile.ZipFile(pack)
    except zipfile.BadZipFile:
        raise PackRefused(f"{pack} is not a zip file (nor a folder).") from None
    with archive:
        for member in archive.infolist():
            name = Path(member.filename).name
            if name not in REQUIRED_FILES or member.is_dir():
                continue
            if member.file_size > MAX_FILE_BYTES:
                raise PackRefused(f"{member.filename} in {pack.name} is larger than any "
                                  "buffalo_l model; this is not the pack the portal expects.")
            if (into / name).exists():
                raise PackRefused(f"{pack.name} holds {name} twice; unzip it and give the "
                                  "folder that holds the pack you want.")
            with archive.open(member) as source, open(into / name, "wb") as target:
                shutil.copyfileobj(source, target)
    return into


def _locate(folder: Path) -> dict[str, Path]:
    """The required files in ``folder`` or one folder down (zips of packs
    often hold a folder named after the pack)."""
    found = {}
    for name in REQUIRED_FILES:
        candidates = [folder / name, *sorted(folder.glob(f"*/{name}"))]
        existing = [path for path in candidates if path.is_file()]
        if existing:
            found[name] = existing[0]
    missing = [name for name in REQUIRED_FILES if name not in found]
    if missing:
        raise PackRefused(
            f"The pack has no {' and no '.join(missing)}: a buffalo_l pack holds "
            f"{DETECTOR_FILE} (the face detector) and {RECOGNISER_FILE} (the recognition "
            "model). Download buffalo_l.zip from https://github.com/deepinsight/insightface/"
            "releases."
        )
    return found


# -- checking them --------------------------------------------------------------------


def _session(path: Path):
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - any load failure means "not a usable model"
        raise PackRefused(f"{path.name} is not an ONNX model onnxruntime can load "
                          f"({type(exc).__name__}); the download may be damaged.") from None


def _dims(shape) -> list:
    return [d if isinstance(d, int) else None for d in shape]


def check_detector(path: Path) -> None:
    session = _session(path)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or _dims(inputs[0].shape)[1] != 3:
        raise PackRefused(
            f"{path.name} does not take one colour image ([1, 3, height, width]) as buffalo_l's "
            f"SCRFD detector does; its inputs are {[list(i.shape) for i in inputs]}."
        )
    widths = sorted(_dims(o.shape)[-1] for o in outputs if o.shape)
    if widths != [1, 1, 1, 4, 4, 4, 10, 10, 10]:
        raise PackRefused(
            f"{path.name} does not give what buffalo_l's SCRFD detector gives (a score, a box "
            "and five landmarks at three strides: nine outputs 1, 4 and 10 wide); its outputs "
            f"are {[list(o.shape) for o in outputs]}. The portal aligns faces on the five "
            "landmarks, so it needs this detector."
        )


def check_recogniser(path: Path) -> None:
    session = _session(path)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or _dims(inputs[0].shape)[1:] != [3, 112, 112]:
        raise PackRefused(
            f"{path.name} does not take 112x112 colour face crops ([N, 3, 112, 112]) as "
            f"buffalo_l's ArcFace model does; its inputs are {[list(i.shape) for i in inputs]}."
        )
    if len(outputs) != 1 or _dims(outputs[0].shape)[-1] != EMBEDDING_SIZE:
        raise PackRefused(
            f"{path.name} gives {[list(o.shape) for o in outputs]}, not one embedding of "
            f"{EMBEDDING_SIZE} values per face as buffalo_l's ArcFace model does; the portal's "
            f"insightface face index stores {EMBEDDING_SIZE} values."
        )


def check_embedding(folder: Path, photo: Path) -> int:
    """Run the portal's own backend on the checked files: a face found on
    ``photo`` and a finite, non-zero embedding. Returns the faces found."""
    try:
        image = load_image(Path(photo).read_bytes())
    except (OSError, ImageError) as exc:
        raise PackRefused(f"The photo {photo} cannot be read to try the models: {exc}") from None
    try:
        faces = InsightFaceBackend(model_dir=folder).detect(image)
    except BackendUnavailable as exc:
        raise PackRefused(str(exc)) from None
    except Exception as exc:  # noqa: BLE001
        raise PackRefused(f"The models failed on {Path(photo).name} "
                          f"({type(exc).__name__}: {exc}).") from None
    if not faces:
        raise PackRefused(f"The detector found no face on {photo}; with buffalo_l's detector "
                          "a clear portrait always has one. Try --photo with another portrait, "
                          "or download the pack again.")
    embedding = np.asarray(faces[0].embedding, dtype=np.float64)
    norm = float(np.linalg.norm(embedding))
    if embedding.shape != (EMBEDDING_SIZE,) or not math.isfinite(norm) or norm == 0:
        raise PackRefused(f"The recognition model gave no usable embedding on {photo}.")
    return len(faces)


# -- installing -----------------------------------------------------------------------


def check_pinned(hashes: dict[str, str], pinned: dict[str, str]) -> None:
    """Each file the operator pinned (``INSIGHTFACE_PACK_SHA256``) must have
    exactly that SHA-256; the files are not even loaded otherwise."""
    for name, expected in pinned.items():
        if name not in hashes:
            raise PackRefused(f"INSIGHTFACE_PACK_SHA256 pins {name}, which the portal does not "
                              f"install (only {', '.join(REQUIRED_FILES)}).")
        if hashes[name] != expected.lower():
            raise PackRefused(f"{name} has the SHA-256 {hashes[name]}, not the {expected} that "
                              "INSIGHTFACE_PACK_SHA256 pins: this is not the pack you vetted.")


def install_pack(pack: Path, destination: Path, *, photo: Path,
                 pinned: dict[str, str] | None = None) -> Installed:
    """Check ``pack`` (a zip or a folder) and install it as ``destination``;
    ``pinned`` maps file names to the SHA-256 they must have."""
    pinned = pinned or {}
    pack, destination = Path(pack), Path(destination)
    if not pack.exists():
        raise PackRefused(f"{pack} does not exist.")
    destination.parent.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.installing-",
                                    dir=destination.parent))
    try:
        if pack.is_dir():
            found = _locate(pack)
            for name, path in found.items():
                shutil.copyfile(path, staging / name)
        else:
            _locate(_extract(pack, staging))
        hashes = {name: sha256_of(staging / name) for name in REQUIRED_FILES}
        check_pinned(hashes, pinned)
        check_detector(staging / DETECTOR_FILE)
        check_recogniser(staging / RECOGNISER_FILE)
        faces = check_embedding(staging, photo)
        (staging / HASHES_FILE).write_text(
            "".join(f"{digest}  {name}\n" for name, digest in hashes.items()), encoding="utf-8")
        staging.chmod(0o755)
        replaced = None
        if destination.exists():
            replaced = destination.with_name(f"{destination.name}.replaced-{stamp}")
            destination.rename(replaced)
        staging.rename(destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Installed(destination, hashes, faces, replaced)
