"""The access package leaves only through the status page of the browser
that confirmed the address: the "access ready" e-mail carries the status
link and no download link, and the download link the status page makes
works once, for a few minutes, in that browser only. A forwarded e-mail,
a shared mailbox or a mail scanner that follows links gets no package."""

import datetime as dt
import io
import re
import zipfile

import pytest
from django.test import Client
from django.utils import timezone

from subjects.core import tokens
from subjects.jobs import delivery
from subjects.models import AccessPackage, OutboundEmail
from tests.subjects.helpers import confirm_in, links_in, path_of
from tests.subjects.scenario import carry_out_in_process, file_via_worker, seed_world

pytestmark = pytest.mark.django_db

DOWNLOAD = re.compile(r'href="(/package/[^"/]+/)"')


@pytest.fixture
def completed_access():
    """Obama's access request, carried out on real photos: the package is built."""
    seed_world("-package")
    request = file_via_worker("obama.package@example.org", kinds=["access"], in_process=True)
    request = carry_out_in_process(request)
    assert request.state == "completed" and request.package.file
    return request


def mailed_links(request) -> list[str]:
    [ready] = OutboundEmail.objects.filter(request=request, kind="access_ready")
    message = delivery.build_message(ready)
    return links_in(message.body) + links_in(message.alternatives[0][0])


def zip_names(response) -> set[str]:
    return set(zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist())


def test_the_access_ready_email_carries_only_the_status_link(completed_access):
    links = mailed_links(completed_access)
    status = f"/r/{tokens.access_token(completed_access)}/status/"
    assert links and {path_of(link) for link in links if "/r/" in link} == {status}
    assert not [link for link in links if "/package/" in link]
    # Whoever follows the mailed link in a fresh browser (a forwarded
    # e-mail, a mail scanner) is asked to confirm the address, nothing more.
    stranger = Client()
    page = stranger.get(status)
    assert page.status_code == 403 and "/package/" not in page.content.decode()


def test_a_fresh_browser_gets_no_package_even_with_a_fresh_download_link(completed_access):
    owner = Client()
    confirm_in(owner, _new_link(completed_access))
    token = tokens.access_token(completed_access)
    [link] = DOWNLOAD.findall(owner.get(f"/r/{token}/status/").content.decode())

    stranger = Client()
    refused = stranger.get(link)
    assert refused.status_code == 403
    assert "in the browser where you confirmed your e-mail address" in refused.content.decode()
    assert refused.get("Content-Type", "").startswith("text/html")
    # The owner's link was not used up by the stranger's try.
    got = owner.get(link)
    assert got.status_code == 200 and {"report.html", "data.json"} <= zip_names(got)


def test_a_download_link_works_once(completed_access):
    owner = Client()
    confirm_in(owner, _new_link(completed_access))
    status = f"/r/{tokens.access_token(completed_access)}/status/"
    [link] = DOWNLOAD.findall(owner.get(status).content.decode())
    assert owner.get(link).status_code == 200
    again = owner.get(link)
    assert again.status_code == 410
    assert "A download link works once" in again.content.decode()
    # The status page makes a new one, which works.
    [fresh] = DOWNLOAD.findall(owner.get(status).content.decode())
    assert fresh != link and owner.get(fresh).status_code == 200
    package = AccessPackage.objects.get(request=completed_access)
    assert package.downloads == 2
    assert completed_access.events.filter(action="package_downloaded").count() == 2


def test_a_download_link_dies_after_a_few_minutes(completed_access, monkeypatch):
    owner = Client()
    confirm_in(owner, _new_link(completed_access))
    [link] = DOWNLOAD.findall(
        owner.get(f"/r/{tokens.access_token(completed_access)}/status/").content.decode())
    later = timezone.now() + tokens.PACKAGE_LINK_MAX_AGE + dt.timedelta(seconds=5)
    monkeypatch.setattr("django.core.signing.time.time", lambda: later.timestamp())
    old = owner.get(link)
    assert old.status_code == 410 and "A download link works once" in old.content.decode()
    assert AccessPackage.objects.get(request=completed_access).downloads == 0


def _new_link(request):
    """The request's address asked for a new confirmation link (another
    device), as the status page offers."""
    from subjects.person import intake

    intake.send_new_link(request)
    request.refresh_from_db()
    return request
