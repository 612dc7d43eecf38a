"""Camera captures for the liveness tests, made at test time: bursts cut
from a real video of a person turning their head, and the attacks on the
camera check (photos held up and jittered, stills repeated).

The video is read from the shared sample folder, never copied into the
repository (``PORTAL_SAMPLE_VIDEO`` names another copy)."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from tests.conftest import FACES_DIR

# The sample folder's real video of a person turning his head.
VIDEO = FACES_DIR / "video" / "short_hamilton_clip.mp4"
#: The camera's picture: 640x480, as a webcam gives.
SIZE = (640, 480)
#: Frames between two frames of a burst: 6 at 29.97 fps is 0.2 s, so a
#: burst of six spans one second, as the page's script takes it.
STRIDE = 6
#: Where the bursts of the video start in which the performer (Lin-Manuel
#: Miranda) looks straight, turns to his left and to his right. Head turn
#: of their six frames, measured with dlib on the 640x480 picture below:
#: straight 0.008 0.040 -0.036 -0.071 -0.136 -0.177 (the most frontal is
#: the pose's frame), left -0.004 0.024 0.131 0.070 0.012 0.036, right
#: -0.172 -0.163 -0.317 -0.194 -0.062 0.006.
VIDEO_POSES = {"straight": 171, "left": 146, "right": 120}


@functools.cache
def video_frames() -> np.ndarray:
    """Every frame of the video as the camera sees it: the part of the stage
    around the performer (x 20-500 of 640x360), at 640x480, BGR."""
    capture = cv2.VideoCapture(str(VIDEO))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(frame[:, 20:500], SIZE, interpolation=cv2.INTER_AREA))
    capture.release()
    assert len(frames) == 275, f"{VIDEO} is not the expected sample video"
    return np.stack(frames)


def jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


@functools.cache
def one_face_frames(start: int, count: int = 18) -> tuple[int, ...]:
    """The frames ``start`` to ``start + count - 1`` that the camera check's
    rule for a single frame accepts (``one_face_in``: exactly one face, big
    enough). Two do not: frame 160 holds two faces to dlib's detector and
    frame 131 none. The check rightly refuses such a frame; a test that plays
    the video to the browser's camera must not depend on whether the
    browser's timing happens to capture one of them (under load it did, and
    the check failed with ``frame_several_faces``)."""
    from search.imaging import load_image
    from subjects.person.selfie import SelfieRejected, one_face_in

    def accepted(frame: np.ndarray) -> bool:
        try:
            one_face_in(load_image(jpeg(frame)))
        except SelfieRejected:
            return False
        return True

    frames = video_frames()
    return tuple(n for n in range(start, start + count) if accepted(frames[n]))


def video_burst(start: int, count: int = 6, stride: int = STRIDE) -> list[bytes]:
    frames = video_frames()
    return [jpeg(frames[start + i * stride]) for i in range(count)]


def passing_bursts() -> dict[str, list[bytes]]:
    """One person turning as asked, in front of the camera: a burst of the
    video for each pose."""
    return {pose: video_burst(start) for pose, start in VIDEO_POSES.items()}


def room(seed: int = 7) -> np.ndarray:
    """A made-up room behind the camera's subject: a wall with a lit
    gradient, a door, a shelf and a picture, and some texture."""
    rng = np.random.default_rng(seed)
    width, height = SIZE
    y, x = np.mgrid[0:height, 0:width]
    wall = 150 + 50 * (x / width) - 30 * (y / height)
    image = np.dstack([wall * 0.92, wall * 0.97, wall]).astype(np.float32)
    cv2.rectangle(image, (30, 60), (150, 470), (60, 80, 110), -1)      # a door
    cv2.rectangle(image, (470, 200), (630, 215), (40, 60, 90), -1)     # a shelf
    cv2.rectangle(image, (490, 60), (600, 150), (90, 120, 60), -1)     # a picture
    for _ in range(40):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.circle(image, (cx, cy), int(rng.integers(2, 9)),
                   tuple(float(v) for v in rng.integers(60, 200, 3)), -1)
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def photo_held_up(name: str, count: int = 6, *, seed: int = 1, face_width: int = 130,
                  jitter: float = 6.0, zoom: float = 0.03, tilt: float = 2.0,
                  background: np.ndarray | None = None) -> list[bytes]:
    """A printed photo (or a phone showing it) held up to the camera: the
    photo, scaled so that its face is ``face_width`` pixels wide, in front
    of a room, shaking a little by hand (shift, zoom, tilt) from frame to
    frame, with the camera's own noise."""
    rng = np.random.default_rng(seed)
    picture = cv2.imread(str(FACES_DIR / name))
    left, top, face = {row.split(",")[0]: [int(v) for v in row.split(",")[2:5]]
                       for row in (FACES_DIR / "labels.csv").read_text().splitlines()[1:]}[name]
    scale = face_width / face
    picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # Held so that the face is in the middle of the camera's picture.
    centre = ((left + face / 2) * scale, (top + face / 2) * scale)
    background = room() if background is None else background
    width, height = SIZE
    frames = []
    for _ in range(count):
        angle = rng.uniform(-tilt, tilt)
        factor = 1 + rng.uniform(-zoom, zoom)
        shift = rng.uniform(-jitter, jitter, 2)
        ph, pw = picture.shape[:2]
        matrix = cv2.getRotationMatrix2D(centre, angle, factor)
        matrix[:, 2] += (width / 2 - centre[0] + shift[0], height / 2 - centre[1] + shift[1])
        warped = cv2.warpAffine(picture, matrix, SIZE)
        mask = cv2.warpAffine(np.full((ph, pw), 255, np.uint8), matrix, SIZE)
        frame = np.where(mask[..., None] > 127, warped, background).astype(np.float32)
        frame += rng.normal(0, 3, frame.shape)
        frames.append(jpeg(np.clip(frame, 0, 255).astype(np.uint8)))
    return frames


def still_repeated(name: str, count: int = 6) -> list[bytes]:
    """One photo sent as every frame of a burst."""
    data = (FACES_DIR / name).read_bytes()
    return [data] * count


def photo_on_a_stand(name: str, count: int = 6, *, seed: int = 1) -> list[bytes]:
    """A printed photo standing still in front of the camera: only the
    camera's noise changes from frame to frame."""
    return photo_held_up(name, count, seed=seed, jitter=0, zoom=0, tilt=0)


def cut_between(first: str, second: str, count: int = 6) -> list[bytes]:
    """A burst that starts on one photo held up and cuts to another."""
    half = count // 2
    return photo_held_up(first, half, seed=3) + photo_held_up(second, count - half, seed=4)


def saved_again(frames: list[bytes], quality: int = 85) -> list[bytes]:
    """The same frames decoded and saved again as JPEG: other files, the
    same pictures."""
    return [jpeg(cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR), quality)
            for f in frames]


def replayed(frames: list[bytes], kind: str) -> list[bytes]:
    """Frames of an earlier capture sent again, as an attacker who kept them
    would disguise them: shifted 5 px right and 4 px down, rescaled by 96 % about the centre,
    turned 4 degrees with an 8 % zoom, mirrored, or saved again at JPEG
    quality 60 (other files, other whole-frame hashes)."""
    out = []
    for data in frames:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        height, width = image.shape[:2]
        quality = 90
        if kind == "shifted":
            matrix = np.float32([[1, 0, 5], [0, 1, 4]])
            image = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        elif kind == "rescaled":
            matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0, 0.96)
            image = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        elif kind == "rotated":
            matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 4, 1.08)
            image = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        elif kind == "mirrored":
            image = np.ascontiguousarray(image[:, ::-1])
        elif kind == "re-encoded":
            quality = 60
        else:
            raise ValueError(kind)
        out.append(jpeg(image, quality))
    return out


def sheared(frames: list[bytes], amount: float) -> list[bytes]:
    """Frames squeezed and sheared about their centre: a flat picture
    warped in 2-D to fake a turn (``amount`` > 0 moves the chin right)."""
    out = []
    for data in frames:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        height, width = image.shape[:2]
        squeeze = 1 - abs(amount)
        matrix = np.float32([[squeeze, amount, (1 - squeeze) * width / 2 - amount * height / 2],
                             [0, 1, 0]])
        out.append(jpeg(cv2.warpAffine(image, matrix, (width, height),
                                       borderMode=cv2.BORDER_REPLICATE)))
    return out


def puppet(name: str, pose: str, *, seed: int = 1, count: int = 6) -> list[bytes]:
    """A face from one press photo, moved about by hand in front of a room,
    and for a turn squeezed and sheared toward it, a little more each
    frame (as a canvas puppet would be drawn), up to 20 % over ``count``
    frames."""
    frames = photo_held_up(name, count, seed=seed)
    if pose == "straight":
        return frames
    sign = 1 if pose == "left" else -1
    return [sheared([frame], sign * 0.2 * n / max(count - 1, 1))[0]
            for n, frame in enumerate(frames)]
