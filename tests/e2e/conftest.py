"""End to end in a real browser: Debian's Chromium driven by Playwright
against the real web server (gunicorn) and a real worker on the embedded
database, with e-mail caught by a real SMTP server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from portal.env import env_bool
from tests.mail import free_port
from tests.waiting import wait_until
from tests.workers import Worker

CHROMIUM = "/usr/bin/chromium"
AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"

def screenshot_folder() -> Path:
    """build/screenshots (git-ignored), so a test run leaves the tree as it
    was; with UPDATE_SCREENSHOTS=1 the README's own, docs/screenshots."""
    if env_bool("UPDATE_SCREENSHOTS", False):
        return Path(settings.BASE_DIR) / "docs" / "screenshots"
    return Path(settings.BASE_DIR) / "build" / "screenshots"


@pytest.fixture(autouse=True, scope="module")
def synchronous_database_calls_beside_playwright():
    """Playwright's sync API runs an event loop in this thread; the tests'
    own database calls are plain synchronous ones. Only for these tests:
    the variable must not reach other tests' subprocesses."""
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if before is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the web server stopped:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    wait_until(listening, timeout=timeout, interval=0.2,
               what=lambda: f"the web server starting:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, celery_worker, smtp_server, tmp_path_factory):
    """gunicorn and a worker whose links point at it; the session's worker
    rests meanwhile (its links point elsewhere)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    folder = tmp_path_factory.mktemp("site")
    env_extra = {
        "SITE_URL": base_url,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": smtp_server.hostname, "EMAIL_PORT": str(smtp_server.port),
        "DPO_EMAIL": "dpo@portal.example",
        "RATE_LIMITS_ENABLED": "0",
    }
    with django_db_blocker.unblock():
        celery_worker.stop()
        worker = Worker(folder / "worker.log", extra_env=env_extra).start()
        web_env = {**worker.env(), "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    log = folder / "web.log"
    with open(log, "ab") as handle:
        web = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "--bind",
             f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"],
            env=web_env, stdout=handle, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
            start_new_session=True)
    wait_for_port(port, web, log)
    yield base_url
    web.terminate()
    web.wait(20)
    worker.stop()
    with django_db_blocker.unblock():
        celery_worker.start()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is installed by `make test` (make browser)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    # bypass_csp: only so axe-core can be injected; the pages themselves run
    # under their real Content-Security-Policy otherwise.
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB",
                                  bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


def check_accessibility(page, name: str) -> None:
    """axe-core on the page: no violation of impact serious or critical."""
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
           for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: {bad}"


def screenshot(page, name: str) -> None:
    folder = screenshot_folder()
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
