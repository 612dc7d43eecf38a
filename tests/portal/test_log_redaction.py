"""Tokens in request paths never reach a log line, in the web process or in
Celery's (issue 32): every URL whose path carries a token is covered, and a
worker's own logging set-up cuts them too."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

from portal.logredact import CUT, redact

TOKEN = "Zm9vYmFyLXNlY3JldC10b2tlbi0xMjM0NTY3ODkw.AbCdEf:1vX2yZ:q9w8e7r6t5y4u3i2o1p0"


def _routes(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def test_every_path_with_a_token_is_cut_out_of_log_lines():
    token_routes = [route for route in _routes(get_resolver().url_patterns)
                    if "<str:token>" in route]
    assert len(token_routes) >= 10  # the request's pages, verify, package, acknowledge
    for route in token_routes:
        path = "/" + re.sub(r"<int:\w+>", "7", route.replace("<str:token>", TOKEN))
        line = redact(f'Not Found: {path} "GET {path} HTTP/1.1" 404')
        assert TOKEN not in line, route
        assert CUT in line, route
    # A request's reference stays, for tracing.
    assert redact("/r/FR-ABCD-EFGH-JKLM.0123456789abcdef/status/") == \
        f"/r/FR-ABCD-EFGH-JKLM.{CUT}/status/"


def test_a_workers_log_line_for_an_acknowledgement_path_holds_no_token():
    """The worker's logging as `celery worker` sets it up (Celery replaces
    the root logger's handlers there). Checked by hand: without the
    after_setup_logger hook in portal/celery.py this line kept the token."""
    code = (
        "from portal.celery import app; app.log.setup(loglevel='INFO', redirect_stdouts=False)\n"
        "import logging\n"
        f"logging.getLogger('subjects.jobs').warning('GET /acknowledge/{TOKEN}/ answered 410')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings_test"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=settings.BASE_DIR,
                          capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-2000:]
    assert f"GET /acknowledge/{CUT}/ answered 410" in output, output[-2000:]
    assert TOKEN not in output
