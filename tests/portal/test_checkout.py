"""Management commands in a checkout where ``make demo`` ran, with no
variable set (``portal.checkout``); and ``verify_receipt``, which checks a
signed file offline without ever starting a database."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from portal import embedded_db, signatures
from subjects.jobs.audit_heads import HEAD_TYPE

#: What a shell in a fresh checkout does not have.
UNSET = {"SECRET_KEY", "SECRET_KEY_FILE", "DEBUG", "DATABASE_URL", "DATABASE_URL_FILE",
         "DJANGO_SETTINGS_MODULE", "ALLOW_EMBEDDED_DATABASE", "CELERY_BROKER_URL",
         "CELERY_RESULT_BACKEND", "PORTAL_TEST_NAME", "PORTAL_OFFLINE_COMMAND"}


def manage(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in UNSET}
    environment.update(PORTAL_DATA_DIR=str(data_dir), **env)
    return subprocess.run([sys.executable, "manage.py", *args], env=environment,
                          capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=600)


@pytest.fixture
def folder():
    # Beside the test session's own server: a folder its postgres user may enter.
    path = Path(settings.DATA_DIR) / f"checkout-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    yield path
    embedded_db.stop(path)
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_verify_audit_runs_in_a_demo_checkout_with_no_variable_set(folder):
    # What `make demo` leaves behind: its data folder, migrated, with its key.
    made = manage("migrate", "-v", "0", data_dir=folder, DEBUG="1")
    assert made.returncode == 0, made.stderr[-3000:]
    assert (folder / "secret_key").is_file()
    result = manage("verify_audit", data_dir=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ImproperlyConfigured" not in result.stderr
    assert "intact" in result.stdout.lower(), result.stdout
    # A deployment's own settings are left alone: DEBUG off is still refused
    # without a secret key.
    refused = manage("verify_audit", data_dir=folder, DEBUG="0")
    assert refused.returncode != 0 and "SECRET_KEY is missing" in refused.stderr


def test_verify_receipt_with_an_empty_data_folder_starts_nothing(folder, tmp_path):
    document = tmp_path / "head.json"
    document.write_text(signatures.sign_document(
        {"type": HEAD_TYPE, "sequence": 7, "hash": "ab" * 32,
         "published_at": "2026-12-01T00:00:00+00:00"}))
    pem = tmp_path / "key.pem"
    pem.write_text(signatures.public_pem(signatures.signing_key().public_key()))

    result = manage("verify_receipt", str(document), "--public-key", str(pem), data_dir=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Valid audit head" in result.stdout and "event 7" in result.stdout
    # Without a key file: a sentence that says where to get one.
    keyless = manage("verify_receipt", str(document), data_dir=folder)
    assert keyless.returncode == 1
    assert "give it with --public-key KEY.pem" in keyless.stderr
    assert "Traceback" not in keyless.stderr
    # Nothing was started, written or made up in the data folder.
    assert list(folder.iterdir()) == []
    assert not embedded_db.is_running(folder)
