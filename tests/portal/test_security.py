"""Security headers, production settings and pages without inline code."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "portal.example",
    "DJANGO_SETTINGS_MODULE": "portal.settings",
}


def run_production(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in {"SECURE_COOKIES", "SECURE_SSL_REDIRECT", "DEBUG", "SECRET_KEY",
                        "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(PRODUCTION)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=settings.BASE_DIR, timeout=180)


def test_check_deploy_is_clean_on_production_settings():
    env = {k: v for k, v in os.environ.items()
           if k not in {"SECURE_COOKIES", "SECURE_SSL_REDIRECT", "DEBUG", "SECRET_KEY",
                        "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(PRODUCTION)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env, capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_sends_hsts_secure_cookies_and_redirects_to_https():
    result = run_production(
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client(HTTP_HOST='portal.example')\n"
        "plain = c.get('/start/')\n"
        "print('REDIRECT', plain.status_code, plain.headers.get('Location'))\n"
        "r = c.get('/start/', secure=True)\n"
        "print('HSTS', r.headers.get('Strict-Transport-Security'))\n"
        "print('COOKIE', r.cookies['csrftoken'].output())\n"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "REDIRECT 301 https://portal.example/start/" in out
    assert "HSTS max-age=31536000; includeSubDomains; preload" in out
    cookie = next(line for line in out.splitlines() if line.startswith("COOKIE"))
    assert "Secure" in cookie and "SameSite=Lax" in cookie


def test_every_page_gets_the_security_headers(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_no_template_served_by_the_site_has_inline_script_or_style():
    """The CSP forbids them; a template that had one would break in browsers."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=|\sstyle=|<style", re.I)
    offenders = []
    for path in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        relative = path.relative_to(settings.BASE_DIR).as_posix()
        # E-mails and the access report are read in mail clients and from
        # the ZIP, not served under this policy.
        if relative.startswith("templates/emails/") or relative.endswith("access_report.html"):
            continue
        if inline.search(path.read_text()):
            offenders.append(relative)
    assert offenders == []
