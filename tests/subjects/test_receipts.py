"""The signed erasure receipt: issued when an erasure completes, e-mailed
and downloadable, checked with the published key by the portal's command,
by the documented openssl procedure and by a plain Ed25519 check, and no
byte of it can change unnoticed. Keys rotate without old receipts failing."""

import base64
import datetime as dt
import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.management import CommandError, call_command

from portal import signatures
from subjects.core import tokens
from subjects.jobs.audit_heads import publish_audit_head
from subjects.models import AuditEvent
from subjects.review import decisions
from tests.mail import text_part
from tests.subjects.helpers import confirmed_again_in, wait_for_state
from tests.subjects.scenario import file_via_worker, seed_world

OPENSSL_BLOCK = re.compile(r"<!-- verify-with-openssl:[^>]*-->\s*```sh\n(.*?)```", re.S)


def documented_openssl_check(folder: Path, receipt: bytes, public_pem: str) -> str:
    """Run the standard-tools check of docs/receipts.md, as written there,
    on ``receipt`` (the key fetched beforehand, as the doc's curl does)."""
    script = OPENSSL_BLOCK.search(
        (Path(settings.BASE_DIR) / "docs" / "receipts.md").read_text()).group(1)
    (folder / "receipt.json").write_bytes(receipt)
    key_id = json.loads(receipt)["key_id"]
    (folder / f"{key_id}.pem").write_text(public_pem)
    done = subprocess.run(["bash", "-c", script], cwd=folder, capture_output=True, text=True,
                          timeout=30)
    return done.stdout + done.stderr


def flipped(data: bytes, position: int) -> bytes:
    """``data`` with the byte at ``position`` changed (to a different value
    for every position)."""
    return data[:position] + bytes([data[position] ^ (position % 255 + 1)]) + data[position + 1:]


@pytest.mark.worker
def test_a_completed_erasure_gives_a_receipt_the_published_key_verifies_byte_for_byte(
        transactional_db, celery_worker, inbox, client, tmp_path):
    address = "receipt.person@example.org"
    world = seed_world(tag="receipt")
    request = file_via_worker(address, kinds=["erasure"])
    decisions.approve_request(request, actor="dpo.test")
    request = wait_for_state(request, "completed")

    # Attached to the completion e-mail, and the same bytes on the status page.
    [done] = inbox.wait_for(address, subject_contains="Your data has been erased")
    [attachment] = list(done.iter_attachments())
    assert attachment.get_filename() == f"{request.reference}-erasure-receipt.json"
    receipt = attachment.get_content()
    assert "/.well-known/receipt-keys.json" in text_part(done)
    token = tokens.access_token(request)
    confirmed_again_in(client, request)
    page = client.get(f"/r/{token}/status/").content.decode()
    assert f"/r/{token}/receipt.json" in page
    download = client.get(f"/r/{token}/receipt.json")
    assert download.status_code == 200 and download.content == receipt

    # A plain Ed25519 check with the key published at the well-known address.
    envelope = json.loads(receipt)
    keys = client.get("/.well-known/receipt-keys.json").json()["keys"]
    [key] = [k for k in keys if k["key_id"] == envelope["key_id"]]
    assert key["status"] == "current" and envelope["signature_algorithm"] == "Ed25519"
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"])).verify(
        base64.b64decode(envelope["signature"]), envelope["payload"].encode("utf-8"))

    # What it states is what happened (the scenario: Obama in two solo photos
    # and a group photo, two customers told).
    payload = json.loads(envelope["payload"])
    assert payload["type"] == "erasure-receipt" and payload["reference"] == request.reference
    assert (payload["faces_erased"], payload["photos_deleted"], payload["photos_redacted"],
            payload["recipients_notified"]) == (3, 2, 1, len(world["customers"]))
    assert payload["final_check"]["passed"] is True
    assert payload["completed_at"] == request.closed_at.isoformat()
    completed = request.events.get(action="completed")
    head = payload["audit_head"]
    assert head["hash"] == completed.hash
    assert head["sequence"] == AuditEvent.objects.filter(pk__lte=completed.pk).count()
    assert "@" not in envelope["payload"]

    # The portal's own check, and the documented one with jq and openssl.
    kept = tmp_path / "receipt.json"
    kept.write_bytes(receipt)
    out = io.StringIO()
    call_command("verify_receipt", str(kept), stdout=out)
    assert f"Valid erasure receipt for {request.reference}" in out.getvalue()
    assert "3 faces erased, 2 photos deleted, 1 redacted" in out.getvalue()
    pem = client.get(f"/.well-known/receipt-keys/{envelope['key_id']}.pem").content.decode()
    assert "Signature Verified Successfully" in documented_openssl_check(tmp_path, receipt, pem)

    # Changing any byte of the receipt fails, each with a reason.
    for position in range(len(receipt)):
        with pytest.raises(signatures.InvalidDocument):
            signatures.open_document(flipped(receipt, position))
    # Including for the command and for openssl, on the payload's figures.
    forged = receipt.replace(b'\\"faces_erased\\":3', b'\\"faces_erased\\":1')
    assert forged != receipt
    kept.write_bytes(forged)
    with pytest.raises(CommandError, match="NOT VALID: the document does not match its "
                                           "signature"):
        call_command("verify_receipt", str(kept))
    assert "Signature Verification Failure" in documented_openssl_check(tmp_path, forged, pem)


def test_a_rotated_key_stays_published_and_old_documents_still_verify(settings, tmp_path,
                                                                       db, client):
    settings.RECEIPT_SIGNING_KEY_FILE = tmp_path / "keys" / "signing.pem"
    settings.RECEIPT_RETIRED_KEYS_DIR = tmp_path / "keys" / "retired"
    old_document = publish_audit_head(now=dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)).document
    assert (tmp_path / "keys" / "signing.pem").stat().st_mode & 0o777 == 0o600
    out = io.StringIO()
    call_command("receipt_key", "--rotate", stdout=out)
    old_id, new_id = re.search(r"Retired key (\w+); now signing with key (\w+)",
                               out.getvalue()).groups()
    assert old_id != new_id
    new_document = publish_audit_head().document
    assert json.loads(new_document)["key_id"] == new_id
    assert json.loads(old_document)["key_id"] == old_id
    published = {k["key_id"]: k["status"]
                 for k in client.get("/.well-known/receipt-keys.json").json()["keys"]}
    assert published == {new_id: "current", old_id: "retired"}
    assert signatures.open_document(old_document).key_id == old_id
    assert signatures.open_document(new_document).key_is_current
    # Checked with a downloaded key file alone, as anyone can offline.
    pem = tmp_path / "old.pem"
    pem.write_bytes(client.get(f"/.well-known/receipt-keys/{old_id}.pem").content)
    document = tmp_path / "old-head.json"
    document.write_text(old_document)
    out = io.StringIO()
    call_command("verify_receipt", str(document), "--public-key", str(pem), stdout=out)
    assert f"Valid audit head, signed with key {old_id}" in out.getvalue()
    document.write_text(new_document)
    with pytest.raises(CommandError, match="names a key that was never published"):
        call_command("verify_receipt", str(document), "--public-key", str(pem))
    assert client.get("/.well-known/receipt-keys/0000000000000000.pem").status_code == 404


def test_a_document_in_another_form_or_signed_by_another_key_is_refused(settings, tmp_path, db):
    settings.RECEIPT_SIGNING_KEY_FILE = tmp_path / "signing.pem"
    settings.RECEIPT_RETIRED_KEYS_DIR = tmp_path / "retired"
    document = signatures.sign_document({"type": "test", "n": 1})
    assert signatures.open_document(document).payload == {"type": "test", "n": 1}
    envelope = json.loads(document)
    for text, reason in [
        (json.dumps(envelope), "not in the form in which documents are signed"),
        (document.replace('\\"n\\":1', '\\"n\\":2'), "does not match its signature"),
        ("not json", "not JSON"),
        (json.dumps({"payload": "{}"}), "its fields are not"),
    ]:
        assert text != document
        with pytest.raises(signatures.InvalidDocument, match=reason):
            signatures.open_document(text)
    # Someone else's Ed25519 key, with the portal's key id written in.
    settings.RECEIPT_SIGNING_KEY_FILE = tmp_path / "someone-else.pem"
    forged = json.loads(signatures.sign_document({"type": "test", "n": 2}))
    forged["key_id"] = envelope["key_id"]
    settings.RECEIPT_SIGNING_KEY_FILE = tmp_path / "signing.pem"
    with pytest.raises(signatures.InvalidDocument, match="does not match its signature"):
        signatures.open_document(json.dumps(forged, sort_keys=True, indent=2) + "\n")
