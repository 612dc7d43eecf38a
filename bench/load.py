"""Load test: many people at once through the citizen journey of a running
portal (``make demo``).

Each simulated person, in their own HTTP session:

1. ``start``   opens the start page and asks for a verification e-mail;
2. ``email``   waits for that e-mail (the demo writes e-mails as files into
               ``var/mail``) and reads the link from it;
3. ``verify``  follows the link and presses its button, landing on the
               selfie page in this session (the request is bound to it);
4. ``selfie``  sends a selfie: by default the camera check (for each pose
               the server reveals, a burst of six frames of the sample video in
               ``FACE_SAMPLES_DIR`` (default ``../shared/faces``)
               of a person turning his head, shifted by a few pixels for each
               person, since the check refuses frames it has seen before), or
               with ``--mode upload`` one uploaded photo;
5. ``matches`` polls the matches page until the matches are shown (an
               uploaded photo, and a camera check of a face that someone
               else searched lately, ends on the page saying the DPO first
               checks it is the person's own).

It prints the errors (anything but the expected answer; must be 0) and the
p50 and p95 of every step, and writes them to ``bench/results/load.json``.
Bounded in count (``--people``) and time (``--time-limit``). Standard library,
``requests``, ``portal.samples`` (no Django settings), OpenCV (for the
video) and dlib's face detector (to keep each person's face pattern only
where the face is still found; made before the clock starts)::

    .venv/bin/python bench/load.py --people 50 --concurrency 50

The demo's abuse limits allow 20 verification e-mails per IP address and
hour, so 50 people from one machine need the demo started with
``RATE_LIMITS_ENABLED=0`` (or with ``TRUSTED_PROXY_COUNT=1`` and
``--forwarded-for``, which gives each person an address of their own).
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import email.policy
import functools
import json
import math
import os
import platform
import random
import re
import socket
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests

from portal import samples

BASE_DIR = Path(__file__).resolve().parent.parent
# The same rule as settings.FACE_SAMPLES_DIR, without loading the settings
# (which would start the embedded database).
FACES_DIR = samples.configured_dir()
RESULTS = BASE_DIR / "bench" / "results" / "load.json"
STEPS = ["start", "email", "verify", "selfie", "matches", "journey"]
#: The pages, each HTTP answer timed on its own. The first five run no face
#: model (the camera check's bursts are only stored by the web process and
#: checked by a search worker); an upload is checked in the web process.
PAGES = ["start", "verify", "camera step", "check answer", "matches", "status", "upload"]
NO_MODEL_PAGES = ["start", "verify", "matches", "status"]

#: The sample video of a person turning his head, and where the bursts of
#: each pose start in it (see tests/subjects/capture.py, which measured them).
VIDEO = (FACES_DIR or samples.DEFAULT_DIR) / "video" / "short_hamilton_clip.mp4"
VIDEO_POSES = {"straight": 171, "left": 146, "right": 120}
#: Photos with one face for ``--mode upload``, taken in turn.
UPLOAD_PHOTOS = ["obama_1.jpg", "biden_1.jpg", "kit_harington_2.jpg", "rose_leslie_1.jpg",
                 "alex_lacamoire_2.jpg", "obama_4.jpg", "lin_manuel_miranda_1.png"]

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CHALLENGE = re.compile(r'name="challenge" value="([^"]+)"')
FOUND = re.compile(r"We found (\d+) faces? that may be yours")
NOTHING_FOUND = "We found no face in the database that matches your selfie"
UNDER_REVIEW = "We are checking that the photo is yours"
VERIFY_LINK = re.compile(r"https?://[^\s\"<>]+/verify/[^\s\"<>]+")


class StepFailed(Exception):
    def __init__(self, step: str, problem: str):
        super().__init__(f"{step}: {problem}")
        self.step = step
        self.problem = problem


def page_of(step: str, path: str) -> str:
    path = path.split("?")[0]
    if "/live/step/" in path:
        return "check answer" if re.search(r"/live/step/\d+/$", path) else "camera step"
    if step == "selfie":
        return "upload" if path.endswith("/selfie/") else "camera step"
    return step


# --- the e-mails the demo writes -----------------------------------------------------


class Mailbox:
    """Verification links from the file backend's folder, by recipient.

    Django's file backend writes each connection's messages to a file of
    their own, separated by a line of 79 dashes. Files are read again when
    they grow; a message counts once its separator is written."""

    SEPARATOR = b"\n" + b"-" * 79 + b"\n"

    def __init__(self, folder: Path):
        self.folder = folder
        self.lock = threading.Lock()
        self.seen: dict[str, int] = {}
        self.links: dict[str, str] = {}

    def scan(self) -> None:
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return
        for entry in entries:
            try:
                size = entry.stat().st_size
            except FileNotFoundError:
                continue
            if self.seen.get(entry.name) == size:
                continue
            try:
                data = Path(entry.path).read_bytes()
            except OSError:
                continue
            self.seen[entry.name] = size
            for chunk in data.split(self.SEPARATOR)[:-1]:
                self._read_message(chunk)

    def _read_message(self, raw: bytes) -> None:
        message = email.message_from_bytes(raw.lstrip(b"\n"), policy=email.policy.default)
        recipient = str(message.get("To", "")).strip().lower()
        if not recipient:
            return
        text = message.get_body(preferencelist=("plain",))
        body = text.get_content() if text is not None else ""
        found = VERIFY_LINK.search(body)
        if found:
            self.links[recipient] = found.group(0)

    def wait_for_link(self, address: str, deadline: float) -> str:
        address = address.lower()
        while True:
            with self.lock:
                if address not in self.links:
                    self.scan()
                link = self.links.get(address)
            if link:
                return link
            if time.monotonic() > deadline:
                raise StepFailed("email", "no verification e-mail arrived in time")
            time.sleep(0.25)


# --- one person ------------------------------------------------------------------------


@dataclass
class Outcome:
    person: int
    timings: dict[str, float] = field(default_factory=dict)
    #: Each HTTP answer's time, by page.
    pages: dict[str, list[float]] = field(default_factory=dict)
    #: From a burst sent to its answer (the search worker's check, and the
    #: wait for a free one).
    waits: list[float] = field(default_factory=list)
    #: When this person's camera check began and passed (monotonic clock).
    began_at: float | None = None
    passed_at: float | None = None
    result: str = ""
    error: str = ""


class Person:
    def __init__(self, number: int, options, mailbox: Mailbox, deadline: float, run_id: str):
        self.number = number
        self.options = options
        self.base = options.base_url.rstrip("/")
        self.mailbox = mailbox
        self.deadline = deadline
        self.address = f"load.{run_id}.{number}@example.org"
        self.session = requests.Session()
        self.session.headers["Accept-Language"] = "en"
        if options.forwarded_for:
            self.session.headers["X-Forwarded-For"] = (
                f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}")
        self.outcome = Outcome(person=number)

    # -- HTTP ---------------------------------------------------------------------

    def _timeout(self) -> float:
        return max(1.0, min(self.options.http_timeout, self.deadline - time.monotonic()))

    def get(self, step: str, path: str, expect: tuple[int, ...] = (200,)) -> requests.Response:
        started = time.monotonic()
        response = self.session.get(self._url(path), timeout=self._timeout(),
                                    allow_redirects=False)
        self._timed(step, path, started)
        return self._check(step, response, expect)

    def post(self, step: str, path: str, data: dict, files=None,
             expect: tuple[int, ...] = (302,)) -> requests.Response:
        started = time.monotonic()
        response = self.session.post(self._url(path), data=data, files=files,
                                     timeout=self._timeout(), allow_redirects=False,
                                     headers={"Referer": self._url(path)})
        self._timed(step, path, started)
        return self._check(step, response, expect)

    def _timed(self, step: str, path: str, started: float) -> None:
        """Each page's answer time, by the page it was (see ``PAGES``)."""
        self.outcome.pages.setdefault(page_of(step, path), []).append(
            time.monotonic() - started)

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    @staticmethod
    def _check(step: str, response: requests.Response, expect) -> requests.Response:
        if response.status_code not in expect:
            snippet = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))[:200]
            raise StepFailed(step, f"HTTP {response.status_code} for {response.request.method} "
                                   f"{response.request.path_url.split('?')[0]}: {snippet}")
        return response

    @staticmethod
    def _path(location: str) -> str:
        return re.sub(r"^https?://[^/]+", "", location)

    def _csrf(self, step: str, page: str) -> str:
        found = CSRF.search(page)
        if not found:
            raise StepFailed(step, "no CSRF token on the page")
        return found.group(1)

    # -- the journey --------------------------------------------------------------

    def run(self) -> Outcome:
        begin = time.monotonic()
        step = "start"
        try:
            for step, action in (("start", self.start), ("email", self.email),
                                 ("verify", self.verify), ("selfie", self.selfie),
                                 ("matches", self.matches)):
                if time.monotonic() > self.deadline:
                    raise StepFailed(step, "the time limit was reached")
                started = time.monotonic()
                action()
                self.outcome.timings[step] = time.monotonic() - started
            self.outcome.timings["journey"] = time.monotonic() - begin
        except StepFailed as failed:
            self.outcome.error = str(failed)
        except requests.RequestException as exc:
            self.outcome.error = f"{step}: {type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - a bug here is an error to count, not a crash
            self.outcome.error = f"{step}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        finally:
            self.session.close()
        return self.outcome

    def start(self) -> None:
        page = self.get("start", "/start/").text
        response = self.post("start", "/start/", {
            "csrfmiddlewaretoken": self._csrf("start", page), "email": self.address,
            "language": "en", "consent": "on",
        })
        if "/start/sent" not in response.headers.get("Location", ""):
            raise StepFailed("start", f"sent to {response.headers.get('Location')!r}")

    def email(self) -> None:
        self.link = self.mailbox.wait_for_link(self.address, self.deadline)

    def verify(self) -> None:
        page = self.get("verify", self._path(self.link)).text
        response = self.post("verify", self._path(self.link),
                             {"csrfmiddlewaretoken": self._csrf("verify", page)})
        home = self._path(response.headers["Location"])
        response = self.get("verify", home, expect=(302,))
        self.selfie_page = self._path(response.headers["Location"])
        if not self.selfie_page.endswith("/selfie/"):
            raise StepFailed("verify", f"sent to {self.selfie_page!r}, not the selfie page")
        self.page = self.get("verify", self.selfie_page).text
        self.token_root = self.selfie_page.removesuffix("selfie/")

    def selfie(self) -> None:
        if self.options.mode == "live":
            self.matches_page = self.camera_check()
            return
        else:
            name = UPLOAD_PHOTOS[self.number % len(UPLOAD_PHOTOS)]
            response = self.post("selfie", self.selfie_page, {
                "csrfmiddlewaretoken": self._csrf("selfie", self.page)},
                files={"photo": (name, photo(name), "image/jpeg")})
        self.matches_page = self._path(response.headers.get("Location", ""))
        if not self.matches_page.endswith("/matches/"):
            raise StepFailed("selfie", f"sent to {self.matches_page!r}, not the matches page")

    def camera_check(self) -> str:
        """Begin, then answer each pose the server reveals with its burst, a
        second after it was shown (as long as the page's camera takes)."""
        live = self.token_root + "live/"
        self.outcome.began_at = time.monotonic()
        page = self.get("selfie", live).text
        challenge = CHALLENGE.search(page)
        if not challenge:
            raise StepFailed("selfie", "the camera check page has no challenge")
        data = {"csrfmiddlewaretoken": self._csrf("selfie", page),
                "challenge": challenge.group(1)}
        answer = self.post("selfie", live + "step/", {**data, "step": "begin"},
                           expect=(200,)).json()
        while "pose" in answer:
            time.sleep(1.0)
            files = [("frames", (f"frame{n}.jpg", frame, "image/jpeg"))
                     for n, frame in enumerate(burst(answer["pose"], self.number))]
            response = self.post("selfie", live + "step/", {**data, "step": str(answer["step"])},
                                 files=files, expect=(202,))
            answer = self.burst_answer(response.json()["answer"], data)
        return answer["next"]

    def burst_answer(self, url: str, data: dict) -> dict:
        """Ask for a burst's answer, as the page does, until the search
        worker has checked it; the wait is timed as ``check``."""
        started = time.monotonic()
        pause = 0.25  # as the page asks: 250 ms, then 1.5 times longer, up to 2 s
        while True:
            time.sleep(pause)
            pause = min(2.0, pause * 1.5)
            response = self.post("selfie", url, data, expect=(200, 202))
            if response.status_code == 200:
                self.outcome.waits.append(time.monotonic() - started)
                answer = response.json()
                if answer.get("done"):
                    self.outcome.passed_at = time.monotonic()
                return answer
            if time.monotonic() > self.deadline:
                raise StepFailed("selfie", "no answer to a burst in time")

    def matches(self) -> None:
        while True:
            page = self.get("matches", self.matches_page).text
            found = FOUND.search(page)
            if found:
                self.outcome.result = f"{found.group(1)} matches shown"
                if int(found.group(1)) < 1:
                    raise StepFailed("matches", "no match shown")
                self.get("status", self.token_root + "status/")
                return
            if NOTHING_FOUND in page:
                raise StepFailed("matches", "the search found nothing for a face in the index")
            if UNDER_REVIEW in page:
                # An upload always; a camera check when someone else searched
                # the same face lately (the per-face guard): all but the first.
                self.outcome.result = "held for the DPO's identity check"
                self.get("status", self.token_root + "status/")
                return
            if time.monotonic() > self.deadline:
                raise StepFailed("matches", "the matches were not shown in time")
            time.sleep(self.options.poll_interval)


_photos: dict[str, bytes] = {}
_video: list = []
_video_lock = threading.Lock()


@functools.cache
def burst(pose: str, person: int) -> list[bytes]:
    """Six frames 0.2 s apart of the pose's part of the video, as a 640x480
    camera sees them (the part of the stage around the performer, exactly
    as ``tests/subjects/capture.py`` frames it, whose bursts pass the check),
    made each person's own in the two ways the check tells captures apart:

    - a pattern of light and dark tiles along the bottom edge (a poster on
      the wall of their room), for the whole picture's difference hash: it
      makes every person's frames more than 8 bits apart from everyone
      else's (measured over 144 people; the check refuses a burst with half
      its frames within 8 bits of an earlier check's);
    - a soft pattern of lighter and darker patches around the face (light
      and shadow on a head of their own), for the aligned face's hash, which
      undoes shifts, zooms and turns of the picture: the check refuses a
      burst with half its faces within 20 bits of an earlier check's.
      Patterns are drawn at random and kept only where dlib's detector
      still finds exactly one face in each of the 18 frames.

    Shifting or zooming the picture instead moved the head's measured turn
    enough to fail a third of the people on the video's small turn to the
    left. The same person number gets the same frames in every run: delete
    the demo's frame fingerprints between runs (docs/load.md). Made before
    the run's clock starts (:func:`prepare`)."""
    import cv2  # only the live mode needs OpenCV

    _load_video()
    tiles, paint = _tiles(person), _face_paint(person)
    return [cv2.imencode(".jpg", _with_tiles(_painted(VIDEO_POSES[pose] + 6 * n, paint), tiles),
                         [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for n in range(6)]


def prepare(people: int) -> None:
    """Every person's bursts, made before the clock starts."""
    for person in range(people):
        for pose in VIDEO_POSES:
            burst(pose, person)


def _load_video() -> None:
    import cv2

    with _video_lock:
        if not _video:
            capture = cv2.VideoCapture(str(VIDEO))
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                _video.append(cv2.resize(frame[:, 20:500], (640, 480),
                                         interpolation=cv2.INTER_AREA))


_patterns: list[int] = []
_pattern_bits: list = []
_pattern_seeds = random.Random(2026)
_paints: list[int] = []
_paint_seeds = random.Random(2027)
_face_boxes: dict[int, tuple[int, int, int, int] | None] = {}
#: The face pattern: an 8x8 grid over a square 1.6 times the face's box,
#: its middle 4x4 (eyes, nose, mouth) left alone, each other patch lighter
#: or darker by this many grey levels, its edges blurred (a third of a patch).
PAINT_GRID, PAINT_SPARED, PAINT_SPAN, PAINT_LEVELS = 8, 4, 1.6, 40


def _with_tiles(frame, tiles: int):
    frame = frame.copy()
    for bit in range(48):
        row, column = divmod(bit, 16)
        frame[390 + 30 * row:420 + 30 * row, 40 * column:40 * column + 40] = (
            210 if tiles >> bit & 1 else 35)
    return frame


def _tiles(person: int) -> int:
    """Person ``person``'s pattern: random ones, each kept only when its
    picture's difference hash (the check's, re-implemented here: 16x16
    brightness steps) is at least 14 bits from every pattern kept before."""
    import cv2

    def bits(tiles: int) -> np.ndarray:
        grey = cv2.cvtColor(_with_tiles(_video[VIDEO_POSES["straight"]], tiles),
                            cv2.COLOR_BGR2GRAY)
        small = cv2.resize(grey, (17, 16), interpolation=cv2.INTER_AREA).astype(np.int16)
        return (small[:, 1:] > small[:, :-1]).ravel()

    with _video_lock:
        while len(_patterns) <= person:
            candidate = _pattern_seeds.getrandbits(48)
            found = bits(candidate)
            if all(np.count_nonzero(found != other) >= 14 for other in _pattern_bits):
                _patterns.append(candidate)
                _pattern_bits.append(found)
    return _patterns[person]


def _detector():
    import dlib  # the portal's own face model package, already installed

    if "detector" not in _detectors:
        _detectors["detector"] = dlib.get_frontal_face_detector()
    return _detectors["detector"]


_detectors: dict = {}


def _face_box(number: int) -> tuple[int, int, int, int]:
    """The performer's face in frame ``number`` (dlib's detector; where it
    finds none, the nearest frame's)."""
    import cv2

    def found(n: int):
        if n not in _face_boxes:
            rgb = cv2.cvtColor(_video[n], cv2.COLOR_BGR2RGB)
            rects = sorted(_detector()(rgb, 1), key=lambda r: -r.area())
            _face_boxes[n] = ((rects[0].left(), rects[0].top(), rects[0].width(),
                               rects[0].height()) if rects else None)
        return _face_boxes[n]

    for n in sorted(range(max(0, number - 12), min(len(_video), number + 13)),
                    key=lambda n: abs(n - number)):
        if found(n) is not None:
            return found(n)
    raise RuntimeError(f"no face near frame {number} of {VIDEO}")


def _painted(number: int, seed: int):
    """Frame ``number`` with the face pattern of ``seed``: patches around
    the face (forehead, hair, ears, jaw, the wall beside the head), none on
    the eyes, nose and mouth, whose landmarks measure the head's turn."""
    import cv2

    frame = _video[number]
    left, top, width, height = _face_box(number)
    side = PAINT_SPAN * width
    cell = side / PAINT_GRID
    x, y = left + width / 2 - side / 2, top + height / 2 - side / 2
    inner = range((PAINT_GRID - PAINT_SPARED) // 2, (PAINT_GRID + PAINT_SPARED) // 2)
    rng = random.Random(seed)
    mask = np.zeros(frame.shape[:2], np.float32)
    for row in range(PAINT_GRID):
        for column in range(PAINT_GRID):
            sign = rng.choice((-1, 1))
            if row in inner and column in inner:
                continue
            x0, y0 = int(x + column * cell), int(y + row * cell)
            mask[max(y0, 0):max(int(y0 + cell), 0), max(x0, 0):max(int(x0 + cell), 0)] = sign
    mask = cv2.GaussianBlur(mask, (0, 0), cell / 3)
    return np.clip(frame + (PAINT_LEVELS * mask)[:, :, None], 0, 255).astype(np.uint8)


def _face_paint(person: int) -> int:
    """Person ``person``'s face pattern (a seed): random ones, each kept only
    when dlib's detector finds exactly one face in every frame of the three
    bursts painted with it."""
    import cv2

    def one_face(number: int, seed: int) -> bool:
        # Around the face only (the rest of the picture is the video's own,
        # its faces counted by the check as they are): a tenth of the time.
        left, top, width, height = _face_box(number)
        x0, y0 = max(left - width, 0), max(top - height, 0)
        part = _painted(number, seed)[y0:top + 2 * height, x0:left + 2 * width]
        return len(_detector()(np.ascontiguousarray(cv2.cvtColor(part, cv2.COLOR_BGR2RGB)),
                               1)) == 1

    def usable(seed: int) -> bool:
        return all(one_face(VIDEO_POSES[pose] + 6 * n, seed)
                   for pose in VIDEO_POSES for n in range(6))

    with _video_lock:
        while len(_paints) <= person:
            candidate = _paint_seeds.getrandbits(32)
            if usable(candidate):
                _paints.append(candidate)
    return _paints[person]


def photo(name: str) -> bytes:
    if name not in _photos:
        _photos[name] = (FACES_DIR / name).read_bytes()
    return _photos[name]


# --- figures ---------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50_s": round(percentile(values, 0.50), 3),
        "p95_s": round(percentile(values, 0.95), 3),
        "max_s": round(max(values), 3),
        "mean_s": round(sum(values) / len(values), 3),
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{socket.gethostname()}: {cpu}, {os.cpu_count()} CPUs, {platform.system()}"


def load_average() -> list[float] | None:
    """The machine's 1, 5 and 15 minute load: other work skews the figures."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--people", type=int, default=50, help="how many people in all")
    parser.add_argument("--concurrency", type=int, default=50, help="how many at once")
    parser.add_argument("--time-limit", type=float, default=600,
                        help="seconds for the whole run; people not done by then are errors")
    parser.add_argument("--mode", choices=["live", "upload"], default="live",
                        help="camera check (matches shown at once) or uploaded photo")
    parser.add_argument("--mail-dir", type=Path, default=BASE_DIR / "var" / "mail",
                        help="where the demo writes e-mails (EMAIL_FILE_PATH)")
    parser.add_argument("--http-timeout", type=float, default=120)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--forwarded-for", action="store_true",
                        help="send each person's own X-Forwarded-For address")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--note", default="",
                        help="how the portal was run, for the results (e.g. its settings)")
    options = parser.parse_args(argv)
    if options.people < 1 or options.concurrency < 1 or options.time_limit <= 0:
        parser.error("--people, --concurrency and --time-limit must be positive")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    sentence = samples.problem(FACES_DIR, needed_by="the load test needs")
    if sentence:
        print(sentence, file=sys.stderr)
        return 2
    try:
        health = requests.get(options.base_url.rstrip("/") + "/healthz", timeout=10)
    except requests.RequestException as exc:
        print(f"The portal does not answer at {options.base_url} ({exc}); start `make demo`.",
              file=sys.stderr)
        return 2
    mailbox = Mailbox(options.mail_dir)
    mailbox.scan()  # e-mails of earlier runs are read now, not during the run
    run_id = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    if options.mode == "live":
        print(f"making the camera bursts of {options.people} people ...", flush=True)
        prepare(options.people)
    load_before = load_average()
    began = time.monotonic()
    deadline = began + options.time_limit
    people = [Person(n, options, mailbox, deadline, run_id) for n in range(options.people)]
    print(f"{options.people} people, {options.concurrency} at once, mode {options.mode}, "
          f"against {options.base_url} (health: HTTP {health.status_code}), "
          f"at most {options.time_limit:g} s")
    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        outcomes = list(pool.map(lambda person: person.run(), people))
    wall = time.monotonic() - began

    errors = [o for o in outcomes if o.error]
    steps = {step: summary([o.timings[step] for o in outcomes if step in o.timings])
             for step in STEPS}
    pages = {page: summary([t for o in outcomes for t in o.pages.get(page, [])])
             for page in PAGES}
    # Camera checks through the search workers: those passed, over the time
    # from the first check's start to the last one's pass.
    passed = sorted(o.passed_at for o in outcomes if o.passed_at is not None)
    first = min((o.began_at for o in outcomes if o.began_at is not None), default=None)
    checks_per_second = (round(len(passed) / (passed[-1] - first), 3) if passed else None)
    results: dict[str, int] = {}
    for outcome in outcomes:
        if not outcome.error:
            key = re.sub(r"^\d+ matches", "N matches", outcome.result)
            results[key] = results.get(key, 0) + 1
    report = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "note": options.note,
        "base_url": options.base_url,
        "mode": options.mode,
        "people": options.people,
        "concurrency": options.concurrency,
        "time_limit_s": options.time_limit,
        "wall_s": round(wall, 1),
        "completed": len(outcomes) - len(errors),
        "errors": len(errors),
        "error_list": [{"person": o.person, "error": o.error} for o in errors],
        "results": results,
        "matches_shown": sorted({int(m.group(1)) for o in outcomes
                                 if (m := re.match(r"(\d+) matches", o.result))}),
        "steps": steps,
        "pages": pages,
        "check_wait": summary([w for o in outcomes for w in o.waits]),
        "camera_checks_passed": len(passed),
        "camera_checks_per_second": checks_per_second,
        "no_model_pages_p95_s": max((pages[p]["p95_s"] for p in NO_MODEL_PAGES
                                     if pages[p]["count"]), default=None),
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{'step':10} {'count':>6} {'p50 s':>8} {'p95 s':>8} {'max s':>8}")
    for step, figures in steps.items():
        if figures["count"]:
            print(f"{step:10} {figures['count']:>6} {figures['p50_s']:>8.3f} "
                  f"{figures['p95_s']:>8.3f} {figures['max_s']:>8.3f}")
        else:
            print(f"{step:10} {0:>6}")
    print(f"{'page':14} {'answers':>7} {'p50 s':>8} {'p95 s':>8} {'max s':>8}")
    for page, figures in pages.items():
        if figures["count"]:
            print(f"{page:14} {figures['count']:>7} {figures['p50_s']:>8.3f} "
                  f"{figures['p95_s']:>8.3f} {figures['max_s']:>8.3f}")
    print(f"camera checks passed: {len(passed)}, {checks_per_second} per second from the "
          f"first one's start; a burst's answer p50 {report['check_wait'].get('p50_s')} s, "
          f"p95 {report['check_wait'].get('p95_s')} s")
    for outcome in errors:
        print(f"error, person {outcome.person}: {outcome.error}")
    print(f"errors: {len(errors)}; completed {report['completed']} of {options.people} in "
          f"{wall:.1f} s; results: {results}; written to {options.output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
