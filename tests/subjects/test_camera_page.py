"""Opening the camera check's page again and again makes no new challenge
while the one it offered waits unbegun: a script that reloads the page (or
a link prefetcher) leaves one waiting row per request. A new challenge
comes only after the last was begun, and beginning is within the abuse
limits."""

import pytest

from subjects.core import tokens
from subjects.models import LivenessChallenge
from tests.subjects.helpers import challenge_of, verified_in

pytestmark = pytest.mark.django_db


def test_reloading_the_camera_page_makes_no_new_challenge(client):
    request = verified_in(client, "opens.camera@example.org")
    token = tokens.access_token(request)
    pages = [client.get(f"/r/{token}/live/") for _ in range(5)]
    assert {page.status_code for page in pages} == {200}
    [waiting] = LivenessChallenge.objects.filter(request=request)

    # The last page's challenge begins it; the next page offers a new one.
    begun = client.post(f"/r/{token}/live/step/",
                        {"challenge": challenge_of(pages[-1].content.decode()), "step": "begin"})
    assert begun.status_code == 200 and begun.json()["pose"] == waiting.poses[0]
    client.get(f"/r/{token}/live/")
    client.get(f"/r/{token}/live/")
    assert LivenessChallenge.objects.filter(request=request).count() == 2


def test_new_challenges_are_bounded_by_the_limit_on_beginning(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "selfie_per_email": "2/d"}
    request = verified_in(client, "begins.often@example.org")
    token = tokens.access_token(request)
    codes = []
    for _ in range(4):
        challenge = challenge_of(client.get(f"/r/{token}/live/").content.decode())
        codes.append(client.post(f"/r/{token}/live/step/",
                                 {"challenge": challenge, "step": "begin"}).status_code)
    assert codes == [200, 200, 429, 429]
    # Two begun, one waiting: however often the page is opened.
    for _ in range(5):
        client.get(f"/r/{token}/live/")
    assert LivenessChallenge.objects.filter(request=request).count() == 3
