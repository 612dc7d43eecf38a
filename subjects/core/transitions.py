"""Moving a request from one state to another: the only way states change.

:func:`transition` refuses what the state machine does not allow, writes
the audit event in the same transaction, and leaves what follows to
``transaction.on_commit`` callbacks that the caller registers.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from subjects.core.audit import record_event
from subjects.core.states import TRANSITIONS, State, TransitionNotAllowed
from subjects.models import RightsRequest


def transition(request: RightsRequest, to_state: State, *, actor: str, action: str,
               reason: str = "", details: dict | None = None, **changes) -> RightsRequest:
    """Move ``request`` to ``to_state`` (row-locked), applying ``changes``.

    Returns the fresh, updated row; ``request`` itself is refreshed too.
    """
    with transaction.atomic():
        locked = RightsRequest.objects.select_for_update().get(pk=request.pk)
        current = State(locked.state)
        if to_state not in TRANSITIONS[current]:
            raise TransitionNotAllowed(current, to_state)
        locked.state = to_state
        locked.state_since = timezone.now()
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save()
        record_event(locked, actor=actor, action=action, from_state=current,
                     to_state=to_state, reason=reason, details=details)
    request.refresh_from_db()
    return locked
