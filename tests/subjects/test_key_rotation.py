"""A rotated SECRET_KEY keeps every link a person holds working while the
old key is listed in SECRET_KEY_FALLBACKS (issue 32), and ends them once it
is removed: the request's pages in the bound browser (the access token and
the browser's signed cookie) and a verification link."""

from __future__ import annotations

import pytest
from django.test import Client

from subjects.core import tokens
from subjects.person import intake
from tests.subjects.helpers import verified_in

pytestmark = pytest.mark.django_db

OLD = "the-key-before-the-rotation-" + "o" * 40
NEW = "the-key-after-the-rotation-" + "n" * 40


def test_links_made_with_the_old_key_work_while_it_is_a_fallback(settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    browser = Client()
    request = verified_in(browser, "rotated.key@example.org")
    home = f"/r/{tokens.access_token(request)}/"
    pending = intake.start_request(email="pending.link@example.org", language="en")
    verify = f"/verify/{tokens.verification_token(pending)}/"
    assert browser.get(home, follow=True).status_code == 200
    assert Client().get(verify).status_code == 200

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]
    page = browser.get(home, follow=True)
    assert page.status_code == 200
    assert request.reference in page.content.decode()
    assert Client().get(verify).status_code == 200
    # New links are made with the new key, and differ.
    assert f"/r/{tokens.access_token(request)}/" != home

    settings.SECRET_KEY_FALLBACKS = []
    assert browser.get(home).status_code == 404
    assert Client().get(verify).status_code != 200
