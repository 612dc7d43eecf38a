"""Where the end-to-end test's screenshots go: a test run must leave the
working tree as it was, so the README's pictures change only on request."""

from pathlib import Path

from django.conf import settings

from tests.e2e.conftest import screenshot_folder


def test_screenshots_go_to_the_ignored_build_folder_by_default(monkeypatch):
    monkeypatch.delenv("UPDATE_SCREENSHOTS", raising=False)
    assert screenshot_folder() == Path(settings.BASE_DIR) / "build" / "screenshots"


def test_update_screenshots_writes_the_readmes(monkeypatch):
    monkeypatch.setenv("UPDATE_SCREENSHOTS", "1")
    folder = screenshot_folder()
    assert folder == Path(settings.BASE_DIR) / "docs" / "screenshots"
    readme = (Path(settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")
    assert "](docs/screenshots/01-home-nl.png)" in readme
    assert "UPDATE_SCREENSHOTS=1" in readme
