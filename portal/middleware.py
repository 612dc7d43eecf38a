"""Security headers Django 5.2 does not set by itself, and the staff
session's clock."""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import render


class ContentSecurityPolicyMiddleware:
    """A strict Content-Security-Policy: scripts, styles and images from
    this site only, no inline scripts, no framing, forms to this site only.
    The camera needs ``blob:`` for its preview; crops are plain URLs."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = "; ".join(f"{k} {v}" for k, v in settings.CONTENT_SECURITY_POLICY.items())

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        response.headers.setdefault("Permissions-Policy",
                                    "camera=(self), microphone=(), geolocation=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


# Session keys of the staff session's clock (seconds since the epoch).
LOGGED_IN_AT = "staff_logged_in_at"
LAST_SEEN_AT = "staff_last_seen_at"
# The last request is written down at most this often, not on every request.
_SEEN_EVERY = 30


def stamp_login(sender, request, user, **kwargs):
    """At every login (the dashboard's, the admin's, a test's force_login):
    the session's clock starts."""
    if request is not None and hasattr(request, "session"):
        now = int(time.time())
        request.session[LOGGED_IN_AT] = now
        request.session[LAST_SEEN_AT] = now


class StaffSessionTimeoutMiddleware:
    """A signed-in session ends STAFF_SESSION_SECONDS after its login, or
    after STAFF_SESSION_IDLE_SECONDS without a request: the next request is
    anonymous (and the dashboard asks to log in again). A session without a
    login time (made before this rule) has ended too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            self._check(request)
        return self.get_response(request)

    @staticmethod
    def _check(request) -> None:
        session = request.session
        now = int(time.time())
        logged_in, seen = session.get(LOGGED_IN_AT), session.get(LAST_SEEN_AT)
        if (logged_in is None or seen is None
                or now - logged_in > settings.STAFF_SESSION_SECONDS
                or now - seen > settings.STAFF_SESSION_IDLE_SECONDS):
            logout(request)
            return
        if now - seen >= _SEEN_EVERY:
            session[LAST_SEEN_AT] = now


class FriendlyMethodNotAllowedMiddleware:
    """A page, not a bare status, for an address opened the wrong way (an
    old link to a form's target, Back onto a posted page): it says what
    happened and where to go on. The API keeps its own answers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code == 405 and not response.content
                and not request.path.startswith("/api/")):
            page = render(request, "405.html", status=405)
            if response.has_header("Allow"):
                page["Allow"] = response["Allow"]
            return page
        return response
