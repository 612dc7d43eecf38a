"""Where the end-to-end test's screenshots go: a test run must leave the
working tree as it was, so the README's pictures change only on request."""

from pathlib import Path

from django.conf import settings

from tests.conftest import git_status
from tests.e2e.conftest import screenshot, screenshot_folder


def test_screenshots_go_to_the_ignored_build_folder_by_default(monkeypatch):
    monkeypatch.delenv("UPDATE_SCREENSHOTS", raising=False)
    assert screenshot_folder() == Path(settings.BASE_DIR) / "build" / "screenshots"


def test_a_screenshot_taken_by_default_leaves_git_status_as_it_was(monkeypatch, page):
    """A real screenshot, as the end-to-end test takes them, then the real
    ``git status``. Broken by hand (screenshot_folder's default changed to
    docs/screenshots): the status gained '?? docs/screenshots/zz-...png'.
    (tests/conftest.py checks the same for the whole run.)"""
    monkeypatch.delenv("UPDATE_SCREENSHOTS", raising=False)
    before = git_status()
    page.set_content("<main><h1>git status</h1></main>")
    screenshot(page, "zz-git-status-check")
    written = screenshot_folder() / "zz-git-status-check.png"
    try:
        assert written.stat().st_size > 0
        assert git_status() == before
    finally:
        written.unlink(missing_ok=True)


def test_update_screenshots_writes_the_readmes(monkeypatch):
    monkeypatch.setenv("UPDATE_SCREENSHOTS", "1")
    folder = screenshot_folder()
    assert folder == Path(settings.BASE_DIR) / "docs" / "screenshots"
    readme = (Path(settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")
    assert "](docs/screenshots/01-home-nl.png)" in readme
    assert "UPDATE_SCREENSHOTS=1" in readme
