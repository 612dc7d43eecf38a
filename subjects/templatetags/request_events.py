"""``{{ event.action|event_label }}``: an audit event as the person reads it,
from the catalogue in ``subjects.core.events``."""

from django import template

from subjects.core import events

register = template.Library()


@register.filter
def event_label(action: str) -> str:
    return events.label(action)
