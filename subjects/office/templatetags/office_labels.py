"""Labels of the office's codes, in the language being rendered, and the
public breach notices of the transparency page."""

from django import template

from subjects.office import breaches
from subjects.office.categories import data_label, people_label

register = template.Library()


@register.filter
def data_category(code: str) -> str:
    return data_label(code)


@register.filter
def people_category(code: str) -> str:
    return people_label(code)


@register.filter
def breach_action(action: str) -> str:
    return breaches.action_label(action)


@register.inclusion_tag("office/public_notices.html", takes_context=True)
def public_breach_notices(context):
    return {"notices": breaches.public_notices(), "dpo_email": context.get("dpo_email")}


@register.inclusion_tag("office/breach_clocks.html")
def breach_clocks():
    """The 72-hour clocks still running, for the top of the DPO's queue."""
    return {"clocks": breaches.open_clocks()}
