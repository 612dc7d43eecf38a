"""E-mailed links follow the demo's --bind; every page has an icon."""

import pytest

from portal.management.commands.rundemo import site_url_for


def test_rundemo_bind_gives_the_links_address():
    assert site_url_for("127.0.0.1:8123") == "http://127.0.0.1:8123"
    assert site_url_for("0.0.0.0:9000") == "http://127.0.0.1:9000"
    assert site_url_for("portal.local:80") == "http://portal.local:80"


@pytest.mark.django_db
def test_every_page_has_an_icon_and_favicon_ico_is_not_a_404(client):
    page = client.get("/").content.decode()
    assert 'rel="icon"' in page and "favicon.svg" in page
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("portal/favicon.svg")
