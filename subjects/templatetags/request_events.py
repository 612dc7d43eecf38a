"""``{{ event.action|event_label }}``: an audit event as the person reads it,
from the catalogue in ``subjects.core.events``."""

from django import template
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from subjects.core import audit, events
from subjects.core.deadlines import EXTENSION_GROUNDS
from subjects.core.states import State
from subjects.models import RightsRequest

register = template.Library()


@register.filter
def event_label(action: str) -> str:
    return events.label(action)


@register.filter
def extension_ground(code: str) -> str:
    """``{{ ground|extension_ground }}``: an extension's ground (Art. 12(3))
    as the person reads it, in the language active now."""
    label = EXTENSION_GROUNDS.get(code)
    return str(label) if label is not None else ""


@register.filter
def right_label(code: str) -> str:
    """``{{ right|right_label }}``: a right (access, erasure, objection) with
    its article, in the language active now."""
    try:
        return str(RightsRequest.Kind(code).label)
    except ValueError:
        return code


@register.filter
def state_label(state: str) -> str:
    """``{{ stage|state_label }}``: a state's name as the person reads it."""
    try:
        return str(State(state).label)
    except ValueError:
        return state


@register.filter
def actor_label(actor: str) -> str:
    """``{{ event.actor|actor_label }}``: who acted, in words (a DPO by name)."""
    if actor == audit.REQUESTER:
        return _("the person")
    if actor == audit.SYSTEM:
        return _("the portal")
    if actor == audit.RECIPIENT:
        return _("a recipient of the data")
    return actor.removeprefix("dpo:")


@register.filter
def email_subject(outbound) -> str:
    """``{{ email|email_subject }}``: an e-mail of the outbox named by its
    subject line (in the reader's language), not by its template's code."""
    request = outbound.request
    try:
        subject = render_to_string(f"emails/{outbound.kind}.subject.txt", {
            "reference": request.reference if request else "",
            "due": request.due_date if request else ""})
    except TemplateDoesNotExist:
        return outbound.kind
    return " ".join(subject.split())
