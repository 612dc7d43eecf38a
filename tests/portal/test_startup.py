"""Start-up refuses unsafe production settings, with a sentence, not a trace."""

import os
import subprocess
import sys

from django.conf import settings


def start_django(**env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    environment.update(DJANGO_SETTINGS_MODULE="portal.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        env=environment, capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = start_django(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY is missing or is a well-known default" in result.stderr
    assert "started" not in result.stdout


def test_production_refuses_a_well_known_secret_key():
    result = start_django(DEBUG="0", SECRET_KEY="django-insecure-abc")
    assert result.returncode != 0
    assert "SECRET_KEY is missing or is a well-known default" in result.stderr


def test_a_bad_debug_value_stops_start_up_with_its_name():
    result = start_django(DEBUG="perhaps", SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "DEBUG must be a yes/no value" in result.stderr


def test_production_starts_with_a_real_secret_key():
    result = start_django(DEBUG="0", SECRET_KEY="a-real-random-value-" + "k" * 40)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_production_refuses_the_embedded_database_unless_told_it_is_intended():
    secret = "a-real-random-value-" + "k" * 40
    refused = start_django(DEBUG="0", SECRET_KEY=secret, ALLOW_EMBEDDED_DATABASE="0")
    assert refused.returncode != 0
    assert "With DEBUG off that needs ALLOW_EMBEDDED_DATABASE=1" in refused.stderr
    assert "started" not in refused.stdout
    allowed = start_django(DEBUG="0", SECRET_KEY=secret, ALLOW_EMBEDDED_DATABASE="1")
    assert allowed.returncode == 0, allowed.stderr


def test_the_cache_is_shared_by_every_process_without_cache_url():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings;"
         "print(settings.CACHES['default']['BACKEND'], settings.RATE_LIMIT_STORE)"],
        env={**{k: v for k, v in os.environ.items() if k != "CACHE_URL"},
             "DJANGO_SETTINGS_MODULE": "portal.settings", "DEBUG": "1"},
        capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=120,
    )
    assert result.stdout.split() == ["django.core.cache.backends.db.DatabaseCache", "database"]
