from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import database_from_url, env_bool, env_int, env_list, env_secret


def test_env_bool_reads_yes_and_no(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", True) is False
    monkeypatch.delenv("FLAG")
    assert env_bool("FLAG", True) is True


def test_env_bool_refuses_a_value_it_does_not_understand(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be a yes/no value"):
        env_bool("FLAG", False)


def test_env_int_refuses_words_and_values_below_the_minimum(monkeypatch):
    monkeypatch.setenv("NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env_int("NUMBER", 1)
    monkeypatch.setenv("NUMBER", "-1")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_int("NUMBER", 1, minimum=0)
    monkeypatch.setenv("NUMBER", "42")
    assert env_int("NUMBER", 1) == 42


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example, b.example ,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


def test_env_secret_reads_the_file_named_by_name_file(monkeypatch, tmp_path: Path):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    monkeypatch.setenv("TOKEN_FILE", str(secret))
    assert env_secret("TOKEN") == "s3cr3t"
    monkeypatch.setenv("TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_secret("TOKEN")


def test_database_url_with_a_socket_and_with_a_host():
    socket = database_from_url("postgresql://postgres@/portal?host=/run/pg")
    assert (socket["NAME"], socket["HOST"], socket["USER"]) == ("portal", "/run/pg", "postgres")
    tcp = database_from_url("postgres://u:p%40ss@db.example:6432/faces?sslmode=require")
    assert (tcp["HOST"], tcp["PORT"], tcp["PASSWORD"]) == ("db.example", "6432", "p@ss")
    assert tcp["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql://h:port/db", "postgresql://host"])
def test_database_url_refuses_what_is_not_a_postgresql_database(url):
    with pytest.raises(ImproperlyConfigured):
        database_from_url(url)


def test_env_rate_reads_one_rate_form_and_off_where_allowed(monkeypatch):
    from portal.env import env_rate
    from portal.rates import Rate

    monkeypatch.setenv("LIMIT", "3/15m")
    assert env_rate("LIMIT", "10/h") == Rate(3, 900)
    monkeypatch.setenv("LIMIT", "600/min")
    assert env_rate("LIMIT", "10/h") == Rate(600, 60)
    monkeypatch.setenv("LIMIT", "off")
    assert env_rate("LIMIT", "10/h", can_be_off=True) is None
    with pytest.raises(ImproperlyConfigured, match="LIMIT must be a rate like 10/h"):
        env_rate("LIMIT", "10/h")
    monkeypatch.setenv("LIMIT", "ten per hour")
    with pytest.raises(ImproperlyConfigured, match="not 'ten per hour'"):
        env_rate("LIMIT", "10/h")
    assert str(Rate.parse("3/15m")) == "3/15m" and Rate.parse(Rate(1, 60)) == Rate(1, 60)
