"""The person's faces and matches.

Which faces of the index belong to a request's person is decided by an
exhaustive scan (:func:`faces_of_subject`), never by the approximate
index; the approximate search only fills the list of matches the person
answers about (:func:`refresh_matches`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from search.matching import Candidate, Tier, find_all_candidates
from search.models import Face
from search.redaction import encode, match_crop
from subjects.core.events import Action
from subjects.core.states import OPEN
from subjects.models import Match, RightsRequest


def confirmed_matches(request: RightsRequest):
    """The matches that count as the person's: those they said are theirs,
    of the ``match`` tier, or of the ``possible`` tier once the DPO confirmed
    them. Only these are restricted, disclosed or erased as claimed."""
    return request.matches.filter(decision=Match.Decision.MINE, face__isnull=False).filter(
        Q(tier=Match.Tier.MATCH) | Q(dpo_decision=Match.DpoDecision.CONFIRMED))


def confirmed_face_ids(request: RightsRequest) -> list[int]:
    return list(confirmed_matches(request).values_list("face_id", flat=True))


def claimed_face_ids(request: RightsRequest) -> list[int]:
    """Every face the person said is theirs, confirmed by the DPO or not."""
    return list(request.matches.filter(decision=Match.Decision.MINE, face__isnull=False)
                .values_list("face_id", flat=True))


def pending_claims(request: RightsRequest):
    """``possible`` faces the person claims that the DPO has not confirmed:
    they restrict, disclose and erase nothing until the DPO does."""
    return request.matches.filter(decision=Match.Decision.MINE, tier=Match.Tier.POSSIBLE,
                                  dpo_decision=Match.DpoDecision.UNDECIDED,
                                  face__isnull=False)


def disclosed_faces(request: RightsRequest) -> dict[int, dict]:
    """Face id -> {"photo_id", "distance", "confirmed"} for the faces an
    access package (and any other disclosure: photos, URLs, recipients) may
    show: exactly the confirmed ones (:func:`confirmed_matches`)."""
    return {m.face_id: {"photo_id": m.photo_id_at_search, "distance": round(m.distance, 4),
                        "confirmed": True}
            for m in confirmed_matches(request).order_by("distance", "pk")}


def earlier_requests_for_faces(request: RightsRequest, face_ids, *, days: int) -> list:
    """Other requests (from other addresses, ``x+y@`` being another than
    ``x@``) whose selfies matched any of
    ``face_ids`` within the last ``days`` days, most recent first."""
    since = timezone.now() - dt.timedelta(days=days)
    others = (Match.objects.filter(face_id__in=list(face_ids), found_at__gte=since)
              .exclude(request__in=request.same_address())
              .values_list("request_id", flat=True).distinct())
    return list(RightsRequest.objects.filter(pk__in=others).order_by("-created_at"))


def identity_established(request: RightsRequest) -> bool:
    """Whether the request's current selfie is known to show the requester:
    it came from a passed camera check, or the DPO confirmed the requester
    after it was submitted (an upload)."""
    if request.selfie_live:
        return True
    confirmed = request.events.filter(action=Action.REQUESTER_CONFIRMED).aggregate(
        last=Max("pk"))["last"]
    submitted = request.events.filter(action=Action.SELFIE_SUBMITTED).aggregate(
        last=Max("pk"))["last"]
    return confirmed is not None and (submitted is None or confirmed > submitted)


def shown_at_once(request: RightsRequest, candidates: Iterable[Candidate]) -> tuple[bool, list]:
    """The one gate on every path to matches (the first search, a search
    again): they are shown to the person at once only when the selfie is
    known to show them (:func:`identity_established`) and no other
    person's selfie matched the same faces lately (the per-face guard);
    otherwise the DPO's identity check comes first. Returns the answer and
    those other requests."""
    others = earlier_requests_for_faces(
        request, [c.face_id for c in candidates if c.tier == Tier.MATCH],
        days=settings.FACE_GUARD_DAYS)
    return identity_established(request) and not others, others


def refresh_matches(request: RightsRequest, candidates: Iterable[Candidate]) -> dict:
    """Replace the unanswered matches of ``request`` by ``candidates``,
    keeping every face the person has answered about. Returns how many
    candidates there are of each tier."""
    candidates = list(candidates)
    request.matches.filter(decision=Match.Decision.UNANSWERED).delete()
    answered = set(request.matches.values_list("face_id", flat=True))
    Match.objects.bulk_create([
        Match(request=request, face_id=c.face_id, photo_id_at_search=c.photo_id,
              distance=c.distance, tier=str(c.tier))
        for c in candidates if c.face_id not in answered
    ])
    return {"matches": sum(1 for c in candidates if c.tier == Tier.MATCH),
            "possible": sum(1 for c in candidates if c.tier == Tier.POSSIBLE)}


def release_faces(request: RightsRequest) -> list[int]:
    """Lift the restriction of this request's faces, except those another
    open request still holds; returns the faces whose restriction was lifted
    (those still in the index and restricted until now)."""
    faces = set(confirmed_face_ids(request))
    # Held by another open request, or by one whose announced lifting date
    # has not come yet (Art. 18(3)).
    held = set(
        Match.objects.filter(face_id__in=faces, decision=Match.Decision.MINE)
        .filter(Q(request__state__in=OPEN) | Q(request__restriction_lifts_at__isnull=False))
        .exclude(request=request).values_list("face_id", flat=True)
    )
    lifted = sorted(Face.objects.filter(pk__in=faces - held, restricted=True)
                    .values_list("pk", flat=True))
    Face.objects.filter(pk__in=lifted).update(restricted=False)
    return lifted


def matches_by_photo(request: RightsRequest) -> list[list[Match]]:
    """The request's matches that still exist, grouped by photo, nearest first."""
    groups: dict[int, list[Match]] = {}
    for match in request.matches.filter(face__isnull=False).order_by("distance", "pk"):
        groups.setdefault(match.photo_id_at_search, []).append(match)
    return list(groups.values())


def crop_of_match(request: RightsRequest, match_id: int) -> bytes | None:
    """A tight crop of one matched face, other faces blurred; None if the
    match is not this request's or its face is gone."""
    match = request.matches.select_related("face__photo").filter(pk=match_id).first()
    if match is None or match.face is None or match.face.photo.synthetic:
        return None
    face = match.face
    others = [f.box for f in face.photo.faces.exclude(pk=face.pk)]
    return encode(match_crop(face.photo, face.box, others=others, size=160))


def faces_of_subject(request: RightsRequest) -> dict[int, dict]:
    """Face id -> {"photo_id", "distance", "confirmed"} for every face that
    is the person's, to be erased: those confirmed (:func:`confirmed_matches`),
    plus every face the exhaustive scan puts in the ``match`` tier that the
    person was never shown (the quick search missed it). A face they were
    shown counts only if it is confirmed: one they did not claim (or claimed
    in the ``possible`` tier without the DPO's confirmation) is not erased."""
    shown = set(request.matches.filter(face__isnull=False).values_list("face_id", flat=True))
    confirmed = set(confirmed_face_ids(request))
    faces: dict[int, dict] = {}
    if request.selfie_embedding is not None:
        for candidate in find_all_candidates(request.selfie_embedding, model=request.selfie_model):
            if candidate.face_id in confirmed or (
                candidate.tier == Tier.MATCH and candidate.face_id not in shown
            ):
                faces[candidate.face_id] = {"photo_id": candidate.photo_id,
                                            "distance": round(candidate.distance, 4),
                                            "confirmed": candidate.face_id in confirmed}
    # Confirmed faces the scan no longer reaches (another model, say) still count.
    for match in confirmed_matches(request):
        faces.setdefault(match.face_id, {"photo_id": match.photo_id_at_search,
                                         "distance": round(match.distance, 4),
                                         "confirmed": True})
    return faces


def unclaimed_face_ids(request: RightsRequest) -> set[int]:
    """Faces the person was shown that are not confirmed as theirs: "not me",
    left unanswered, or a ``possible`` claim the DPO has not confirmed.
    An erasure leaves them (and the same faces in other models) alone."""
    shown = set(request.matches.filter(face__isnull=False).values_list("face_id", flat=True))
    return shown - set(confirmed_face_ids(request))
