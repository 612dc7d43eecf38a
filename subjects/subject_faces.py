"""Which faces of the index belong to a request's person: decided by an
exhaustive scan, never by the approximate index."""

from __future__ import annotations

from search.matching import Tier, find_all_candidates
from subjects.models import Match, RightsRequest


def faces_of_subject(request: RightsRequest) -> dict[int, dict]:
    """Face id -> {"photo_id", "distance", "confirmed"} for every face that
    is the person's: those they confirmed, plus every face the exhaustive scan
    puts in the ``match`` tier that they did not say is someone else."""
    decisions = dict(
        request.matches.filter(face__isnull=False).values_list("face_id", "decision")
    )
    faces: dict[int, dict] = {}
    if request.selfie_embedding is not None:
        for candidate in find_all_candidates(request.selfie_embedding, model=request.selfie_model):
            decision = decisions.get(candidate.face_id, "")
            if decision == Match.Decision.MINE or (
                candidate.tier == Tier.MATCH and decision != Match.Decision.NOT_MINE
            ):
                faces[candidate.face_id] = {"photo_id": candidate.photo_id,
                                            "distance": round(candidate.distance, 4),
                                            "confirmed": decision == Match.Decision.MINE}
    # Confirmed faces the scan no longer reaches (another model, say) still count.
    for match in request.matches.filter(decision=Match.Decision.MINE, face__isnull=False):
        faces.setdefault(match.face_id, {"photo_id": match.photo_id_at_search,
                                         "distance": round(match.distance, 4),
                                         "confirmed": True})
    return faces
