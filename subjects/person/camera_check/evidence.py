"""What the DPO sees of a camera check: each rule's measured value against
its threshold, per pose, and the nearest scraped face (its embedding
distance and how much the live face looks like a copy of it). Scalars
only, worked out from the bursts' measures when the check ends (the bursts
are deleted then) and kept on the challenge."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from subjects.models import LivenessBurst
from subjects.person.camera_check.rules.background import RELATIVE_MOTION_MIN
from subjects.person.camera_check.rules.known_photo import COPY_MIN, COPY_REVIEW
from subjects.person.camera_check.rules.replay import FACE_REPLAY_MAX_BITS
from subjects.person.camera_check.rules.turns import TURN_MIN, TURN_SEEN_MIN

#: Each rule the DPO sees, what it measures, and whether a value passes at
#: or above (">=") or at or below ("<=") the threshold.
RULES = {
    "motion": (_("The face moves against its surroundings"), ">="),
    "turn": (_("The head turns as asked"), ">="),
    "turn_seen": (_("The turn is seen while it happens"), ">="),
    "replay_bits": (_("Differs from every earlier capture (bits)"), ">"),
    "copy_score": (_("Likeness to the nearest scraped photo as a picture"), "<"),
}


def of_bursts(bursts: list[LivenessBurst]) -> dict:
    """The evidence of a check from its bursts' measures."""
    rows = []
    nearest, copy = None, 0.0
    for burst in sorted(bursts, key=lambda b: b.step):
        m = burst.measures
        turns, chosen = m.get("turns", []), m.get("chosen", 0)
        if burst.pose != "straight" and turns:
            sign = 1 if burst.pose == "left" else -1
            farthest = max(sign * t for t in turns)
            rows += [("motion", burst.pose, m.get("motion"), RELATIVE_MOTION_MIN),
                     ("turn", burst.pose, round(sign * turns[chosen], 4), TURN_MIN),
                     ("turn_seen", burst.pose, round(farthest - sign * turns[0], 4),
                      TURN_SEEN_MIN)]
        rows += [("replay_bits", burst.pose, m.get("replay_bits"), FACE_REPLAY_MAX_BITS),
                 ("copy_score", burst.pose, m.get("copy_score"), COPY_MIN)]
        if m.get("nearest_scraped") is not None:
            nearest = min(nearest or 9.0, m["nearest_scraped"])
        copy = max(copy, m.get("copy_score") or 0.0)
    return {"rules": [{"rule": r, "pose": p, "value": v, "threshold": t} for r, p, v, t in rows],
            "nearest_scraped": nearest, "copy_score": round(copy, 4),
            "copy_flag": copy >= COPY_REVIEW}


def rows_for_page(evidence: dict) -> list[dict]:
    """The evidence's rows with each rule's label and its verdict."""
    out = []
    for row in evidence.get("rules", []):
        label, sense = RULES[row["rule"]]
        value, threshold = row["value"], row["threshold"]
        ok = value is not None and {
            ">=": value >= threshold, ">": value > threshold, "<": value < threshold,
        }[sense]
        out.append({**row, "label": label, "sense": sense, "ok": ok})
    return out
