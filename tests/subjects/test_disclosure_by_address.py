"""What an access package discloses about the person's earlier requests
goes by the exact verified address, never by its normalised form: at most
providers ``x+y@domain`` is another mailbox than ``x@domain``, and whoever
owns it must never receive ``x@domain``'s requests, their audit trail or
the DPO's reasons. (The normalised form serves only the abuse limits.)"""

import io
import json
import zipfile

import pytest

from subjects.review import decisions
from tests.subjects.scenario import carry_out_in_process, file_via_worker, seed_world

pytestmark = pytest.mark.django_db

REASON = "Confidential: the DPO's note on x's earlier erasure request."


def package_of(request) -> dict:
    with request.package.file.open("rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    return {"data": archive.read("data.json").decode(),
            "report": archive.read("report.html").decode()}


def test_x_plus_y_never_receives_the_records_of_x():
    seed_world("-plus")
    # x@ (Obama) asked for an erasure, which the DPO refused with a reason.
    earlier = file_via_worker("x@mail.example", kinds=["erasure"], in_process=True)
    decisions.reject_request(earlier, actor="dpo.test", reason=REASON, ground="other")
    # The owner of x+y@ (Biden, another mailbox) asks for access.
    later = file_via_worker("x+y@mail.example", kinds=["access"], selfie_file="biden_2.jpg",
                            in_process=True)
    later = carry_out_in_process(later)
    package = package_of(later)
    data = json.loads(package["data"])
    assert [r["reference"] for r in data["your_requests"]] == [later.reference]
    assert {e["reference"] for e in data["audit_events"]} == {later.reference}
    for text in package.values():
        assert earlier.reference not in text and "Confidential" not in text

    # x@ asking for access again gets their own earlier request, as before.
    again = file_via_worker("x@mail.example", kinds=["access"], in_process=True)
    again = carry_out_in_process(again)
    data = json.loads(package_of(again)["data"])
    assert {r["reference"] for r in data["your_requests"]} == {earlier.reference,
                                                               again.reference}
    assert later.reference not in json.dumps(data)
