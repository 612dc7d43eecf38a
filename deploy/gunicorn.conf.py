"""gunicorn's settings for the portal: ``gunicorn portal.wsgi --config deploy/gunicorn.conf.py``.

Read by the Procfile's ``web`` process (``make demo``) and by
``deploy/systemd/portal-web.service``. Two environment variables change it:

- ``PORTAL_BIND``: where to listen, default ``127.0.0.1:8000`` (nginx in
  front, see ``deploy/nginx/face-rights-portal.conf``; never the internet
  directly). A Unix socket is written ``unix:/run/face-rights-portal/web.sock``.
- ``WEB_CONCURRENCY``: worker processes, default 2.
"""

import os

bind = [os.environ.get("PORTAL_BIND", "127.0.0.1:8000")]

# Sync workers: one request at a time each. No page runs the face model
# except an uploaded selfie's check: a camera check's bursts are stored and
# checked by the search workers (Celery), the page asking for the answer.
# About 2 per core is the usual start; the load test (docs/load.md) ran 2.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

# A worker silent this long is killed and replaced; 120 s leaves room for
# a slow upload without letting a stuck worker hang for ever. nginx's proxy
# timeouts in deploy/nginx/ are the same 120 s.
timeout = 120
# On a restart, requests in flight get this long to finish.
graceful_timeout = 30
# nginx keeps connections to us open between requests.
keepalive = 5

# Workers are replaced after this many requests (with jitter, not all at once),
# which bounds the memory a face model's buffers may grow to.
max_requests = 1000
max_requests_jitter = 100

# No access log: request paths carry people's link tokens, and the portal
# logs request references only (docs/security.md, "Logs"). Errors go to stderr.
accesslog = None
errorlog = "-"
loglevel = "info"

# The proxy in front (nginx on the same machine) sets X-Forwarded-Proto;
# Django trusts it only with BEHIND_TLS_PROXY=1.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
