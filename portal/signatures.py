"""Ed25519 signatures on what the portal states publicly: erasure receipts
and the audit chain's published heads.

The private key is a PEM file (``RECEIPT_SIGNING_KEY_FILE``), created with
mode 0600 the first time it is needed when it does not exist (as the demo
does), or made by an operator with ``openssl genpkey -algorithm ed25519``.
A rotation (:func:`rotate_key`) keeps the old public key in
``RECEIPT_RETIRED_KEYS_DIR``, so documents signed before it still verify:
:func:`published_keys` lists the current key and every retired one.

A signed document is one small JSON file::

    {
      "key_id": "<16 hex digits: the start of SHA-256 of the raw public key>",
      "payload": "<the statement itself: JSON, as one string>",
      "signature": "<Ed25519 over the payload's UTF-8 bytes, base64>",
      "signature_algorithm": "Ed25519"
    }

written in exactly one form (keys sorted, two-space indent, ASCII only, a
final newline, canonical base64). :func:`open_document` refuses any other
form, so a change to any byte of the file fails: inside ``payload`` or
``signature`` the signature no longer matches, anywhere else the file is
not in the one form documents are written in. Standard tools check the same
(docs/receipts.md): ``jq -j .payload`` gives the signed bytes and
``openssl pkeyutl -verify -rawin`` checks them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ALGORITHM = "Ed25519"
FIELDS = {"key_id", "payload", "signature", "signature_algorithm"}


class InvalidDocument(Exception):
    """A document that does not verify; the message says why, as a sentence
    that follows "The document …"."""


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _write_new(path: Path, data: bytes, *, replace: bool) -> None:
    """Write ``data`` to ``path`` through a private temporary file: a reader
    never sees half a key. Without ``replace``, a file another process made
    meanwhile wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    try:
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)


def _new_private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def signing_key() -> Ed25519PrivateKey:
    """The current private key, read from its file (created when missing)."""
    path = Path(settings.RECEIPT_SIGNING_KEY_FILE)
    if not path.exists():
        _write_new(path, _new_private_pem(), replace=False)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise ImproperlyConfigured(
            f"RECEIPT_SIGNING_KEY_FILE ({path}) cannot be read as an unencrypted PEM private "
            f"key: {error}. Make one with: openssl genpkey -algorithm ed25519 -out {path}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(
            f"RECEIPT_SIGNING_KEY_FILE ({path}) holds a key of another kind; an Ed25519 key is "
            f"needed: openssl genpkey -algorithm ed25519 -out {path}")
    return key


def _retired_keys() -> dict[str, Ed25519PublicKey]:
    folder = Path(settings.RECEIPT_RETIRED_KEYS_DIR)
    found = {}
    for path in sorted(folder.glob("*.pem")) if folder.is_dir() else []:
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except ValueError:
            continue
        if isinstance(key, Ed25519PublicKey):
            found[key_id(key)] = key
    return found


@dataclass(frozen=True)
class PublishedKey:
    key_id: str
    key: Ed25519PublicKey
    current: bool

    @property
    def pem(self) -> str:
        return public_pem(self.key)

    def as_dict(self) -> dict:
        raw = self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"key_id": self.key_id, "algorithm": ALGORITHM,
                "status": "current" if self.current else "retired",
                "public_key": base64.b64encode(raw).decode(), "public_key_pem": self.pem}


def published_keys() -> list[PublishedKey]:
    """The current key first, then every retired one."""
    current = signing_key().public_key()
    keys = [PublishedKey(key_id(current), current, True)]
    keys += [PublishedKey(kid, key, False) for kid, key in _retired_keys().items()
             if kid != keys[0].key_id]
    return keys


def rotate_key() -> tuple[str, str]:
    """Retire the current key (its public half stays published) and start
    signing with a new one. Returns the old and the new key ids."""
    old = signing_key().public_key()
    folder = Path(settings.RECEIPT_RETIRED_KEYS_DIR)
    _write_new(folder / f"{key_id(old)}.pem", public_pem(old).encode(), replace=True)
    _write_new(Path(settings.RECEIPT_SIGNING_KEY_FILE), _new_private_pem(), replace=True)
    return key_id(old), key_id(signing_key().public_key())


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _written_form(envelope: dict) -> str:
    return json.dumps(envelope, sort_keys=True, indent=2, ensure_ascii=True) + "\n"


def sign_document(payload: dict) -> str:
    """``payload`` signed with the current key, as the text of a document."""
    key = signing_key()
    text = canonical_json(payload)
    signature = key.sign(text.encode("utf-8"))
    return _written_form({"key_id": key_id(key.public_key()), "payload": text,
                          "signature": base64.b64encode(signature).decode(),
                          "signature_algorithm": ALGORITHM})


@dataclass(frozen=True)
class OpenedDocument:
    payload: dict
    key_id: str
    key_is_current: bool


def open_document(data: bytes | str,
                  keys: dict[str, Ed25519PublicKey] | None = None) -> OpenedDocument:
    """The payload of a signed document, once its signature holds; raises
    :class:`InvalidDocument` otherwise. ``keys`` (id -> public key) defaults
    to the keys this portal publishes."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        envelope = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise InvalidDocument("is not a signed document (it is not JSON)") from None
    if not isinstance(envelope, dict) or set(envelope) != FIELDS or not all(
            isinstance(envelope[name], str) for name in FIELDS):
        raise InvalidDocument("is not a signed document (its fields are not "
                              + ", ".join(sorted(FIELDS)) + ")")
    if envelope["signature_algorithm"] != ALGORITHM:
        raise InvalidDocument(f"names an algorithm other than {ALGORITHM}")
    if _written_form(envelope) != text:
        raise InvalidDocument("is not in the form in which documents are signed: it was "
                              "changed after signing")
    if keys is None:
        published = published_keys()
        keys = {k.key_id: k.key for k in published}
        current = published[0].key_id
    else:
        current = None
    key = keys.get(envelope["key_id"])
    if key is None:
        raise InvalidDocument(f"names a key that was never published ({envelope['key_id']})")
    try:
        signature = base64.b64decode(envelope["signature"], validate=True)
    except binascii.Error:
        signature = b""
    if base64.b64encode(signature).decode() != envelope["signature"]:
        raise InvalidDocument("has a signature that is not valid base64")
    try:
        key.verify(signature, envelope["payload"].encode("utf-8"))
    except InvalidSignature:
        raise InvalidDocument("does not match its signature: it was changed after "
                              "signing, or signed by someone else") from None
    try:
        payload = json.loads(envelope["payload"])
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise InvalidDocument("is signed but its payload is not a JSON object")
    return OpenedDocument(payload, envelope["key_id"], envelope["key_id"] == current)


def public_key_from_pem(data: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key
