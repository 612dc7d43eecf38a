"""What the DPO can do to a request, and when.

:data:`ACTIONS` is the table of the DPO's actions: each one's label and the
decision of ``subjects.review.decisions`` it runs. :func:`available_actions`
is the one place that says which actions a request offers now; the
dashboard shows only those, and :func:`perform` refuses anything else, so
the API and the pages cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from subjects.core.deadlines import extension_refusal
from subjects.core.faces import pending_claims
from subjects.core.states import State, TransitionNotAllowed
from subjects.models import RightsRequest
from subjects.review import decisions
from subjects.review.decisions import DecisionRefused

APPROVE = "approve"
REJECT = "reject"
EXTEND = "extend"
ASK_FOR_INFORMATION = "ask_for_information"
INFORMATION_RECEIVED = "information_received"
CLOSE_UNFOUNDED = "close_unfounded"
RESUME = "resume"
SEARCH_AGAIN = "search_again"
CONFIRM_REQUESTER = "confirm_requester"
DECIDE_CLAIMS = "decide_claims"
RENEW_LINKS = "renew_links"

#: Reasons a DPO starts a rejection from; the free text follows. Each is
#: written to the person, in their language. "We cannot identify you" is not
#: one: Art. 11(2) and 12(2) let a controller refuse only when it shows it
#: cannot identify the person, and Art. 12(6) has it ask for the information
#: it needs instead (the "ask for information" action).
REJECTION_REASONS = {
    "not_found": _("The faces you confirmed are not in our database any more."),
    "legal_obligation": _("We must keep this data to comply with a legal obligation "
                          "(Art. 17(3)(b) GDPR)."),
    "legal_claims": _("We need this data to establish, exercise or defend legal claims "
                      "(Art. 17(3)(e) GDPR)."),
    "compelling_grounds": _("We have compelling legitimate grounds for the processing which "
                            "override your interests, rights and freedoms (Art. 21(1) GDPR)."),
    "other": _("Other reason (write it below)"),
}
ALL_RIGHTS = frozenset(RightsRequest.Kind.values)
#: The rights each reason may refuse: Art. 17(3) limits erasure only, the
#: compelling legitimate grounds of Art. 21(1) an objection only; the rest
#: (Art. 12(5), faces no longer held, another reason) any right.
RIGHTS_OF_REASON = {
    "not_found": ALL_RIGHTS,
    "legal_obligation": frozenset({"erasure"}),
    "legal_claims": frozenset({"erasure"}),
    "compelling_grounds": frozenset({"objection"}),
    "unfounded": ALL_RIGHTS,
    "other": ALL_RIGHTS,
}


def reasons_for(rights) -> dict:
    """The refusal reasons valid for every one of ``rights`` (a request's
    kinds, or one right), in the table's order."""
    rights = set(rights)
    return {code: label for code, label in REJECTION_REASONS.items()
            if rights <= RIGHTS_OF_REASON[code]}


#: The grounds of a rejection as the transparency page counts them: a
#: reason above, or Art. 12(5) (``close_as_unfounded``).
REJECTION_GROUNDS = {
    "identity": _("Identity not established"),
    "not_found": _("Faces no longer in the database"),
    "legal_obligation": _("Legal obligation (Art. 17(3)(b))"),
    "legal_claims": _("Legal claims (Art. 17(3)(e))"),
    "compelling_grounds": _("Compelling legitimate grounds (Art. 21(1))"),
    "unfounded": _("Manifestly unfounded or excessive (Art. 12(5))"),
    "other": _("Other reason"),
}


def was_approved(request: RightsRequest) -> bool:
    return request.jobs.exists()


def available_actions(request: RightsRequest, *, today: dt.date | None = None) -> list[str]:
    """The actions the request offers now, in display order."""
    today = today or timezone.localdate()
    state = request.state
    offered: set[str] = set()
    if state == State.IDENTITY_REVIEW:
        offered |= {CONFIRM_REQUESTER, ASK_FOR_INFORMATION, REJECT}
    elif state == State.AWAITING_REVIEW:
        offered |= {REJECT, ASK_FOR_INFORMATION, CLOSE_UNFOUNDED}
        # Claims on ``possible`` faces are decided before approval.
        offered.add(DECIDE_CLAIMS if pending_claims(request).exists() else APPROVE)
        if request.selfie_embedding is not None:
            offered.add(SEARCH_AGAIN)
    elif state == State.INFO_REQUESTED:
        offered |= {INFORMATION_RECEIVED, REJECT, CLOSE_UNFOUNDED}
    elif state == State.ERROR:
        if was_approved(request):
            # A job failed: carry on from its last finished step.
            offered.add(RESUME)
        elif request.selfie_embedding is not None:
            offered.add(SEARCH_AGAIN)
        if request.is_filed:
            offered.add(REJECT)
    if extension_refusal(request, today) is None:
        offered.add(EXTEND)
    if request.email and request.verified_at is not None:
        # Whenever a link is known to have leaked, closed requests too (their
        # status page stays reachable until the address is purged).
        offered.add(RENEW_LINKS)
    return [name for name in LABELS if name in offered]


def rejection_reason(request: RightsRequest, template: str, text: str, *,
                     rights=None) -> str:
    """The reason the person reads: the chosen template in their language,
    then the DPO's own words. ``rights``: those it refuses (every right
    asked for unless said)."""
    text = (text or "").strip()
    if template and template not in REJECTION_REASONS:
        raise DecisionRefused(_("Choose one of the listed reasons."))
    if template and template not in reasons_for(request.kinds if rights is None else rights):
        raise DecisionRefused(
            _("This reason does not apply to every right the person asked for (%(rights)s); "
              "decide each right on its own.")
            % {"rights": ", ".join(request.get_kinds_display())})
    if template in ("", "other"):
        if not text:
            raise DecisionRefused(_("A rejection needs a reason: the person is told it."))
        return text
    with translation.override(request.language):
        sentence = str(REJECTION_REASONS[template])
    return f"{sentence}\n\n{text}" if text else sentence


def _text(name: str) -> Callable[[dict], str]:
    """Reads the form's field ``name`` as stripped text."""

    def read(data: dict) -> str:
        value = data.get(name, "")
        return value.strip() if isinstance(value, str) else ""

    return read


def _ids(name: str) -> Callable[[dict], list[int]]:
    """Reads the form's field ``name`` as a list of ids."""

    def read(data: dict) -> list[int]:
        try:
            return [int(value) for value in data.get(name) or []]
        except (TypeError, ValueError):
            raise DecisionRefused(_("Choose faces from the list.")) from None

    return read


def _months(data: dict) -> int:
    try:
        return int(data.get("months", 0))
    except (TypeError, ValueError):
        return 0


def _refusals(data: dict) -> dict[str, tuple[str, str]]:
    """Reads the rights the approval refuses: ``<right>_refusal`` (a reason's
    code; empty approves the right) and ``<right>_reason`` (the DPO's words)."""
    refusals = {}
    for kind in RightsRequest.Kind.values:
        ground = data.get(f"{kind}_refusal") or ""
        text = data.get(f"{kind}_reason") or ""
        if not isinstance(ground, str) or not isinstance(text, str):
            raise DecisionRefused(_("Choose one of the listed reasons."))
        if ground.strip():
            refusals[kind] = (ground.strip(), text.strip())
    return refusals


def _approve(request: RightsRequest, *, actor: str,
             refusals: dict[str, tuple[str, str]]) -> RightsRequest:
    """Decide each right: approve it, or refuse it on a reason valid for that
    right (Art. 17(3) only for erasure, Art. 21(1) only for objection,
    Art. 12(5) for any), written to the person in their language. Only the
    approved rights are carried out; refusing every right rejects."""
    refused = {}
    for kind, (ground, text) in refusals.items():
        if kind not in request.kinds:
            raise DecisionRefused(_("The person did not ask for this right."))
        if ground not in reasons_for([kind]) and ground != "unfounded":
            raise DecisionRefused(
                _("This reason cannot refuse %(right)s.")
                % {"right": RightsRequest.Kind(kind).label})
        if ground == "unfounded":
            if not text:
                raise DecisionRefused(
                    _("Say why the request is manifestly unfounded or excessive."))
            with translation.override(request.language):
                prefix = str(_("Manifestly unfounded or excessive (Art. 12(5))"))
            refused[kind] = (ground, f"{prefix}: {text}")
        else:
            refused[kind] = (ground, rejection_reason(request, ground, text, rights=[kind]))
    if refused and set(refused) >= set(request.kinds):
        decisions.record_right_decisions(request, actor=actor, refused=refused)
        with translation.override(request.language):
            reason = "\n\n".join(f"{RightsRequest.Kind(kind).label}: {text}"
                                  for kind, (_g, text) in refused.items())
        return decisions.reject_request(request, actor=actor, reason=reason,
                                        ground=next(iter(refused.values()))[0])
    return decisions.approve_request(request, actor=actor, refused=refused)


def _reject(request: RightsRequest, *, actor: str, reason_template: str,
            reason: str) -> RightsRequest:
    return decisions.reject_request(
        request, actor=actor, reason=rejection_reason(request, reason_template, reason),
        ground=reason_template or "other")


@dataclass(frozen=True)
class DpoAction:
    label: str
    #: The decision: called with the request, ``actor`` and the inputs.
    decide: Callable[..., RightsRequest]
    #: Keyword -> how the decision's input is read from the form's data.
    inputs: dict[str, Callable[[dict], object]] = field(default_factory=dict)
    #: Whether the decision takes ``today`` (the deadline rules do).
    dated: bool = False

    def run(self, request: RightsRequest, *, actor: str, data: dict,
            today: dt.date | None) -> RightsRequest:
        kwargs = {name: read(data) for name, read in self.inputs.items()}
        if self.dated:
            kwargs["today"] = today
        return self.decide(request, actor=actor, **kwargs)


#: Every action, in the order the request page lists them.
ACTIONS: dict[str, DpoAction] = {
    CONFIRM_REQUESTER: DpoAction(_("Confirm the photo shows the requester"),
                                 decisions.confirm_requester),
    DECIDE_CLAIMS: DpoAction(_("Decide the faces the person claimed"), decisions.decide_claims,
                             {"match_ids": _ids("faces")}),
    APPROVE: DpoAction(_("Approve"), _approve, {"refusals": _refusals}),
    REJECT: DpoAction(_("Reject"), _reject, {"reason_template": _text("reason_template"),
                                             "reason": _text("reason")}),
    EXTEND: DpoAction(_("Extend the deadline"), decisions.extend_deadline,
                      {"months": _months, "reason": _text("reason"), "ground": _text("ground")},
                      dated=True),
    ASK_FOR_INFORMATION: DpoAction(_("Ask for information"), decisions.ask_for_information,
                                   {"question": _text("question"),
                                    "photo": lambda data: bool(data.get("photo"))}),
    INFORMATION_RECEIVED: DpoAction(_("Information received"), decisions.information_received,
                                    {"note": _text("note")}),
    CLOSE_UNFOUNDED: DpoAction(_("Close as manifestly unfounded or excessive"),
                               decisions.close_as_unfounded, {"reason": _text("reason")}),
    RESUME: DpoAction(_("Resume after the error"), decisions.resume_request),
    SEARCH_AGAIN: DpoAction(_("Search again"), decisions.search_again),
    RENEW_LINKS: DpoAction(_("Cut the request's links and e-mail a new one"),
                           decisions.renew_links),
}
LABELS = {name: action.label for name, action in ACTIONS.items()}
#: Actions taken only on the dashboard, where the DPO sees the photo beside
#: the matches: an API key, which sees neither, cannot confirm a requester.
DASHBOARD_ONLY = {CONFIRM_REQUESTER}
API_ACTIONS = [name for name in LABELS if name not in DASHBOARD_ONLY]


def perform(request: RightsRequest, action: str, *, actor: str, data: dict | None = None,
            today: dt.date | None = None) -> RightsRequest:
    """Carry out one DPO action that the request offers now."""
    if action not in ACTIONS:
        raise DecisionRefused(_("There is no such action."), status=404)
    if action not in available_actions(request, today=today):
        raise DecisionRefused(
            _("This request (%(state)s) does not offer “%(action)s” now.")
            % {"state": request.get_state_display(), "action": LABELS[action]},
            status=409,
        )
    try:
        return ACTIONS[action].run(request, actor=actor, data=data or {}, today=today)
    except TransitionNotAllowed:
        # Someone else decided first: the state moved under us.
        request.refresh_from_db()
        raise DecisionRefused(
            gettext("The request changed meanwhile (it is now %(state)s); reload it and "
                    "decide again.") % {"state": request.get_state_display()},
            status=409,
        ) from None
