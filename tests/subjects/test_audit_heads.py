"""The published audit head: signed once a day, shown on the transparency
page, and what exposes a trail rewritten after it, even one whose hashes
were all computed afresh."""

import base64
import datetime as dt
import io
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from subjects import tasks
from subjects.core import tokens
from subjects.core.audit import chain_head, verify_chain
from subjects.jobs.audit_heads import publish_audit_head
from subjects.models import AuditEvent, PublishedAuditHead
from subjects.person import intake
from tests.subjects.audit_helpers import rewrite_event

pytestmark = pytest.mark.django_db


def some_history(tag: str, n: int = 3):
    for number in range(n):
        request = intake.start_request(email=f"head.{tag}{number}@example.org", language="en")
        intake.verify_email(tokens.verification_token(request))


def published_key(client, key_id: str) -> Ed25519PublicKey:
    keys = client.get("/.well-known/receipt-keys.json").json()["keys"]
    [key] = [k for k in keys if k["key_id"] == key_id]
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))


def test_the_head_is_the_last_event_by_position_hash_and_time():
    assert chain_head() == (0, "0" * 64, None)
    some_history("position")
    last = AuditEvent.objects.order_by("pk").last()
    assert chain_head() == (AuditEvent.objects.count(), last.hash, last.at)


def test_the_day_s_head_is_signed_published_and_checked_with_the_published_key(client,
                                                                                 tmp_path):
    some_history("daily")
    head = publish_audit_head()
    last = AuditEvent.objects.order_by("pk").last()
    assert (head.sequence, head.hash, head.head_at) == (AuditEvent.objects.count(), last.hash,
                                                        last.at)
    # Once a day: a second run the same day publishes nothing new.
    some_history("later", 1)
    assert publish_audit_head() == head and PublishedAuditHead.objects.count() == 1

    page = client.get("/transparency/").content.decode()
    assert head.hash in page and f">{head.sequence}<" in page
    response = client.get(f"/transparency/audit-heads/{head.published_on.isoformat()}.json")
    assert response.status_code == 200
    envelope = json.loads(response.content)
    published_key(client, envelope["key_id"]).verify(
        base64.b64decode(envelope["signature"]), envelope["payload"].encode())
    payload = json.loads(envelope["payload"])
    assert (payload["type"], payload["sequence"], payload["hash"]) == (
        "audit-head", head.sequence, head.hash)
    kept = tmp_path / "head.json"
    kept.write_bytes(response.content)
    out = io.StringIO()
    call_command("verify_receipt", str(kept), stdout=out)
    assert f"Valid audit head, signed with key {envelope['key_id']}: event {head.sequence}" \
        in out.getvalue()
    assert "The audit trail still holds this head." in out.getvalue()
    listed = client.get("/transparency/figures.json").json()["audit_heads"]
    assert [(h["sequence"], h["hash"]) for h in listed] == [(head.sequence, head.hash)]
    assert client.get("/transparency/audit-heads/1999-01-01.json").status_code == 404
    assert client.get("/transparency/audit-heads/yesterday.json").status_code == 404


def test_beat_publishes_the_head_every_day():
    entry = settings.CELERY_BEAT_SCHEDULE["publish-audit-head"]
    assert entry["task"] == tasks.publish_audit_head.name == "subjects.publish_audit_head"
    assert entry["schedule"].hour == {0}
    some_history("beat", 1)
    assert tasks.publish_audit_head.apply().get() == AuditEvent.objects.count()
    assert PublishedAuditHead.objects.get(published_on=timezone.localdate())


def test_a_rewritten_event_is_exposed_by_verify_audit_and_by_the_published_head(client,
                                                                                 tmp_path):
    some_history("rewrite", 4)
    head = publish_audit_head(now=timezone.now() - dt.timedelta(days=1))
    kept = tmp_path / "kept-head.json"
    kept.write_bytes(client.get(
        f"/transparency/audit-heads/{head.published_on.isoformat()}.json").content)
    some_history("after", 2)
    victim = AuditEvent.objects.order_by("pk")[2]

    # A clumsy rewrite: the chain breaks at the event, and verify_audit names it.
    rewrite_event(victim.pk, reason="nothing happened here")
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit")
    assert f"broken at event {victim.pk}" in str(caught.value)

    # A careful forger also computes every later hash afresh: the chain alone
    # now looks intact...
    rewrite_event(victim.pk, rechain=True, reason="nothing happened here")
    assert verify_chain().intact
    # ...but it no longer holds the head published the day before.
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit", stdout=io.StringIO())
    message = str(caught.value)
    assert "The audit trail was rewritten" in message
    assert f"the head published on {head.published_on} (event {head.sequence}" in message
    assert "matches no event of the trail" in message
    # The copy someone kept still carries the portal's valid signature, and
    # shows the trail's event at that position with another hash.
    with pytest.raises(CommandError, match="does NOT hold this head"):
        call_command("verify_receipt", str(kept), stdout=io.StringIO())
    envelope = json.loads(kept.read_text())
    published_key(client, envelope["key_id"]).verify(
        base64.b64decode(envelope["signature"]), envelope["payload"].encode())
    now_at_position = AuditEvent.objects.order_by("pk")[head.sequence - 1]
    assert json.loads(envelope["payload"])["hash"] == head.hash != now_at_position.hash

