"""The production files in deploy/ and the Procfile, run for real: Debian's
nginx with deploy/nginx/face-rights-portal.conf (on loopback ports, a
self-signed certificate) in front of gunicorn with deploy/gunicorn.conf.py,
and the systemd units checked against the Procfile."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.conf import settings

from portal.celery import app
from tests.waiting import wait_until
from tests.workers import database_url

ROOT = Path(settings.BASE_DIR)
DEPLOY = ROOT / "deploy"


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def exec_start(unit: str) -> str:
    text = (DEPLOY / "systemd" / unit).read_text()
    return re.search(r"^ExecStart=(.+)$", text, re.M).group(1)


def test_the_procfile_names_web_worker_and_beat_and_the_worker_serves_every_queue():
    processes = procfile()
    assert set(processes) == {"web", "worker", "beat"}
    queues = re.search(r"--queues (\S+)", processes["worker"]).group(1).split(",")
    assert sorted(queues) == sorted(settings.CELERY_QUEUES_CONSUMED)
    assert "deploy/gunicorn.conf.py" in processes["web"]


def test_each_systemd_unit_runs_its_procfile_command_from_the_virtual_environment():
    venv_bin = "/opt/face-rights-portal/.venv/bin/"
    for name, command in procfile().items():
        assert exec_start(f"portal-{name}.service") == venv_bin + command, name
    target = (DEPLOY / "systemd" / "face-rights-portal.target").read_text()
    for name in procfile():
        assert f"portal-{name}.service" in target


def gunicorn_timeout() -> int:
    text = (DEPLOY / "gunicorn.conf.py").read_text()
    return int(re.search(r"^timeout = (\d+)$", text, re.M).group(1))


def test_nginx_waits_for_gunicorn_as_long_as_gunicorn_lets_a_request_run():
    site = (DEPLOY / "nginx" / "face-rights-portal.conf").read_text()
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        value = re.search(rf"{directive} (\d+)s;", site).group(1)
        assert int(value) == gunicorn_timeout(), directive
    # Three camera frames of FACE_UPLOAD_MAX_BYTES each must pass nginx.
    body = int(re.search(r"client_max_body_size (\d+)m;", site).group(1)) * 1024 * 1024
    assert body >= 3 * settings.FACE_UPLOAD_MAX_BYTES


# -- nginx in front of gunicorn, for real ---------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, timeout=timeout, interval=0.2,
               what=lambda: f"something listening on {port}:\n{log.read_text()[-3000:]}")


def site_for_test(tmp: Path, *, http: int, https: int, upstream: int, static: Path) -> str:
    """The deploy/ site with its addresses, certificate and folders pointed at
    this test's; every replacement must find its line, so the test follows
    the file."""
    site = (DEPLOY / "nginx" / "face-rights-portal.conf").read_text()
    replacements = [
        (r"listen 80;", f"listen 127.0.0.1:{http};", 1),
        (r"listen \[::\]:80;\n", "", 1),
        (r"listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;", 1),
        (r"listen \[::\]:443 ssl http2;\n", "", 1),
        (r"ssl_certificate /\S+;", f"ssl_certificate {tmp}/cert.pem;", 1),
        (r"ssl_certificate_key /\S+;", f"ssl_certificate_key {tmp}/key.pem;", 1),
        (r"alias /var/lib/face-rights-portal/static/;", f"alias {static}/;", 1),
        (r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{upstream};", 1),
        (r"/var/log/nginx/face-rights-portal\.access\.log", f"{tmp}/access.log", 2),
    ]
    for pattern, replacement, expected in replacements:
        site, count = re.subn(pattern, replacement, site)
        assert count == expected, f"deploy/ site: {pattern} found {count} times"
    return site


def nginx_main_config(tmp: Path) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read tmp files
    temp = "\n".join(f"    {kind}_temp_path {tmp}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
{temp}
    include {tmp}/site.conf;
}}
"""


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("deploy")


@pytest.fixture(scope="module")
def production_env(django_db_setup, stack_dir):
    """Production settings (DEBUG off, behind a TLS proxy) on the test database."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG"}}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings", DEBUG="0",
        SECRET_KEY="deploy-test-" + "s" * 50, DATABASE_URL=database_url(),
        CELERY_BROKER_URL=app.conf.broker_url, CELERY_RESULT_BACKEND=app.conf.result_backend,
        PORTAL_DATA_DIR=str(stack_dir / "data"), BEHIND_TLS_PROXY="1", TRUSTED_PROXY_COUNT="1",
        ALLOWED_HOSTS="localhost", CSRF_TRUSTED_ORIGINS="https://localhost",
        SECURE_SSL_REDIRECT="1", SECURE_COOKIES="1", WEB_CONCURRENCY="1",
    )
    env.pop("SECURE_HSTS_SECONDS", None)
    return env


@pytest.fixture(scope="module")
def stack(production_env, stack_dir):
    """gunicorn (deploy/gunicorn.conf.py) and nginx (deploy/nginx/) on loopback."""
    tmp_path = stack_dir
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is missing: `make browser` installs Debian's nginx"
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
                   env=production_env, cwd=ROOT, check=True, timeout=300)
    static = tmp_path / "data" / "static"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem"),
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )
    ports = {"web": free_port(), "http": free_port(), "https": free_port()}
    web_log = tmp_path / "gunicorn.log"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "--config", "deploy/gunicorn.conf.py"],
        env={**production_env, "PORTAL_BIND": f"127.0.0.1:{ports['web']}"}, cwd=ROOT,
        stdout=web_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    (tmp_path / "site.conf").write_text(site_for_test(
        tmp_path, http=ports["http"], https=ports["https"], upstream=ports["web"], static=static))
    (tmp_path / "nginx.conf").write_text(nginx_main_config(tmp_path))
    command = [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
               "-e", str(tmp_path / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    proxy_log = tmp_path / "nginx.out"
    proxy = subprocess.Popen(command, stdout=proxy_log.open("wb"), stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        wait_for_port(ports["web"], web, web_log)
        wait_for_port(ports["https"], proxy, tmp_path / "error.log")
        yield {"https": f"https://localhost:{ports['https']}",
               "http": f"http://localhost:{ports['http']}",
               "direct": f"http://127.0.0.1:{ports['web']}",
               "cert": str(tmp_path / "cert.pem"), "access_log": tmp_path / "access.log"}
    finally:
        for process in (proxy, web):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def test_nginx_serves_the_portal_over_tls_with_its_security_headers(stack):
    page = requests.get(stack["https"] + "/", verify=stack["cert"], timeout=30,
                        allow_redirects=False)
    assert page.status_code == 200, page.text[:500]
    assert "Is your face in a scraped face database?" in page.text
    for header, value in SECURITY_HEADERS.items():
        assert page.headers[header] == value, header
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # Django sends HSTS and secure cookies only on a request it knows is
    # HTTPS: nginx's X-Forwarded-Proto reached it and was trusted.
    assert page.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "secure" in page.headers["set-cookie"].lower()

    start = requests.get(stack["https"] + "/start/", verify=stack["cert"], timeout=30)
    assert start.status_code == 200 and "consent" in start.text.lower()


def test_nginx_serves_the_static_files_itself_with_their_headers(stack):
    css = requests.get(stack["https"] + "/static/portal/portal.css", verify=stack["cert"],
                       timeout=30)
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "--accent" in css.text
    assert css.headers["x-content-type-options"] == "nosniff"
    assert css.headers["strict-transport-security"].startswith("max-age=31536000")
    # nginx's `expires 1h` (the portal's whitenoise would not say so).
    assert "max-age=3600" in css.headers["cache-control"] and "expires" in css.headers
    missing = requests.get(stack["https"] + "/static/portal/nothing.css", verify=stack["cert"],
                           timeout=30)
    assert missing.status_code == 404


def test_plain_http_is_redirected_to_https(stack):
    response = requests.get(stack["http"] + "/start/?lang=nl", allow_redirects=False,
                            timeout=30)
    assert response.status_code == 301
    assert response.headers["location"].startswith("https://localhost")
    assert response.headers["location"].endswith("/start/?lang=nl")
    # And gunicorn reached without the proxy's header redirects too (SECURE_SSL_REDIRECT).
    direct = requests.get(stack["direct"] + "/start/", allow_redirects=False, timeout=30,
                          headers={"Host": "localhost"})
    assert direct.status_code == 301
    assert direct.headers["location"] == "https://localhost/start/"


def test_nginx_refuses_oversized_uploads_and_never_serves_media(stack):
    too_big = requests.post(stack["https"] + "/start/", data=b"x" * (33 * 1024 * 1024),
                            verify=stack["cert"], timeout=60)
    assert too_big.status_code == 413
    media = requests.get(stack["https"] + "/media/photos/any.jpg", verify=stack["cert"],
                         timeout=30)
    assert media.status_code == 404


def test_the_access_log_holds_no_paths_with_tokens(stack):
    requests.get(stack["https"] + "/r/some-secret-token/status/", verify=stack["cert"],
                 timeout=30)
    wait_until(stack["access_log"].exists, timeout=10, interval=0.2,
               what="the access log being written")
    log = stack["access_log"].read_text()
    assert '"GET" 404' in log
    assert "some-secret-token" not in log


def _from(stack, source: str, path: str) -> tuple[int, dict]:
    """A GET through nginx from another loopback address (a client outside
    the operators' networks, or one with a rate count of its own)."""
    context = ssl.create_default_context(cafile=stack["cert"])
    context.check_hostname = False
    port = int(stack["https"].rsplit(":", 1)[1])
    conn = http.client.HTTPSConnection("127.0.0.1", port, source_address=(source, 0),
                                       context=context, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def test_nginx_names_no_version(stack):
    status, headers = _from(stack, "127.0.0.1", "/media/anything")
    assert status == 404 and headers["server"] == "nginx"
    redirect = requests.get(stack["http"] + "/", allow_redirects=False, timeout=30)
    assert redirect.headers["Server"] == "nginx"


def test_the_admin_and_the_api_docs_answer_only_the_operators_networks(stack):
    for path in ("/admin/login/", "/api/docs/", "/api/schema/"):
        assert _from(stack, "127.0.0.2", path)[0] == 403, path
    # The DPO's dashboard stays reachable (its login has the second factor).
    assert _from(stack, "127.0.0.2", "/dpo/login/")[0] == 200
    assert _from(stack, "127.0.0.1", "/admin/login/")[0] == 200


def test_nginx_holds_back_a_client_hammering_the_staff_login(stack):
    statuses = [_from(stack, "127.0.0.3", "/dpo/login/")[0] for _ in range(25)]
    assert statuses[:11] == [200] * 11, statuses  # one and a burst of ten
    assert 429 in statuses[11:], statuses
    # Another client is not held back by that one.
    assert _from(stack, "127.0.0.4", "/dpo/login/")[0] == 200


def test_each_systemd_unit_is_sandboxed():
    """systemd-analyze's own exposure score, offline, for every unit (7.9 for
    each before the sandboxing of issue 32, 1.5 after, on systemd 252)."""
    analyze = shutil.which("systemd-analyze")
    for name in procfile():
        unit = (DEPLOY / "systemd" / f"portal-{name}.service").read_text()
        for line in ("UMask=0077", "PrivateDevices=yes", "RestrictNamespaces=yes",
                     "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service",
                     "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"):
            assert line in unit, (name, line)
        if analyze is None:
            continue  # the directives above are checked; the score needs systemd's tool
        scored = subprocess.run(
            [analyze, "security", "--offline=true", "--no-pager",
             str(DEPLOY / "systemd" / f"portal-{name}.service")],
            capture_output=True, text=True, timeout=60)
        exposure = float(re.search(r"Overall exposure level for \S+: ([\d.]+)",
                                   scored.stdout).group(1))
        assert exposure <= 2.0, (name, exposure)
