"""The DPO's pages in the DPO's words: a picture is called what it is (a
frame of the live camera check, or a photo the requester uploaded), and a
state is not named as the person reads it ("Information requested from you")."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from tests.conftest import FACES_DIR
from tests.subjects.dpo_helpers import log_in_verified, make_dpo, make_request

pytestmark = pytest.mark.django_db


def kept_picture() -> str:
    return default_storage.save("selfies/test-caption.img",
                                ContentFile((FACES_DIR / "obama_2.jpg").read_bytes()))


@pytest.mark.parametrize("live, caption, not_said", [
    (False, "The requester's uploaded photo", "Taken by the live camera check"),
    (True, "The requester's camera picture", "uploaded photo"),
])
def test_the_dpo_caption_says_what_the_picture_is(live, caption, not_said):
    desk = log_in_verified(Client(), make_dpo()[0])
    request = make_request("awaiting_review", selfie_live=live, selfie_review_file=kept_picture())
    page = desk.get(f"/dpo/requests/{request.reference}/").content.decode()
    section = page[page.index('id="reference-heading"'):]
    section = section[:section.index("</section>")]
    assert caption in section
    assert not_said not in section


def test_the_dpo_reads_states_in_the_dpos_words():
    desk = log_in_verified(Client(), make_dpo()[0])
    request = make_request("info_requested")
    page = desk.get(f"/dpo/requests/{request.reference}/").content.decode()
    assert "Waiting for information from the requester" in page
    assert "Information requested from you" not in page
    queue = desk.get("/dpo/?everything=on").content.decode()
    assert "Waiting for information from the requester" in queue
    assert "from you" not in queue
