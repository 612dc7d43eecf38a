"""``{{ event.action|event_label }}``: an audit event as the person reads it,
from the catalogue in ``subjects.core.events``."""

from django import template

from subjects.core import events
from subjects.core.states import State

register = template.Library()


@register.filter
def event_label(action: str) -> str:
    return events.label(action)


@register.filter
def state_label(state: str) -> str:
    """``{{ stage|state_label }}``: a state's name as the person reads it."""
    try:
        return str(State(state).label)
    except ValueError:
        return state
