"""Settings for the test suite: the normal settings with test-only safety nets.

Tests run on the same embedded server as the demo (in their own throwaway
database) but never on the demo's broker: a running demo worker must not
pick up the tests' tasks.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-only-" + "x" * 40)
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_COOKIES", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
# The tests run with DEBUG off on the embedded server, on purpose.
os.environ.setdefault("ALLOW_EMBEDDED_DATABASE", "1")

from portal import embedded_db  # noqa: E402
from portal.settings import *  # noqa: E402,F403
from portal.settings import DATA_DIR, EMBEDDED_DATABASE  # noqa: E402

# Several suites can run side by side on one embedded server when each sets
# its own PORTAL_TEST_NAME: own test database, broker database and media.
TEST_NAME = os.environ.get("PORTAL_TEST_NAME", "portal")
DATABASES["default"]["TEST"] = {"NAME": f"test_{TEST_NAME}"}  # noqa: F405
TEST_BROKER_DATABASE = f"test_{TEST_NAME}_broker"
if EMBEDDED_DATABASE is not None:
    embedded_db.ensure_database(EMBEDDED_DATABASE, TEST_BROKER_DATABASE)
    if not os.environ.get("CELERY_BROKER_URL"):
        CELERY_BROKER_URL = EMBEDDED_DATABASE.sqlalchemy_url("portaldb+", TEST_BROKER_DATABASE)
    if not os.environ.get("CELERY_RESULT_BACKEND"):
        CELERY_RESULT_BACKEND = EMBEDDED_DATABASE.sqlalchemy_url("db+", TEST_BROKER_DATABASE)

MEDIA_ROOT = DATA_DIR / "test-media" / TEST_NAME
ERASURE_JOURNAL = DATA_DIR / "test-media" / f"{TEST_NAME}-erasure-journal.jsonl"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The test process itself keeps mail in memory (Django's test runner would
# anyway); worker processes get a real SMTP server from tests/conftest.py.
if os.environ.get("EMAIL_BACKEND") is None:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_USE_FINDERS = True
# Tests change what /healthz sees from one call to the next; the one test of
# the cache itself sets a period (tests/portal/test_staff_side.py).
HEALTHZ_CACHE_SECONDS = 0
WHITENOISE_AUTOREFRESH = True
# Each suite signs receipts with a key of its own, never the demo's.
if not os.environ.get("RECEIPT_SIGNING_KEY_FILE"):
    RECEIPT_SIGNING_KEY_FILE = DATA_DIR / "test-keys" / TEST_NAME / "receipt_signing_key.pem"
    RECEIPT_RETIRED_KEYS_DIR = DATA_DIR / "test-keys" / TEST_NAME / "retired"
