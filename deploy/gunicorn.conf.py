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

# Sync workers: one request at a time each. A camera check runs three face
# detections in the request (about 1-3 s of CPU each on the demo's photos),
# so workers are bounded by cores, not by connections: about 2 per core is
# the usual start; the load test in the README ran 2 workers on 2 cores.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

# A worker silent this long is killed and replaced. Under load a camera check
# waited up to 115 s for a free worker (README, "Load"), and the check itself
# takes seconds of CPU; 120 s leaves room without letting a stuck worker hang
# for ever. nginx's proxy timeouts in deploy/nginx/ are the same 120 s.
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
# logs request references only (README, "Security"). Errors go to stderr.
accesslog = None
errorlog = "-"
loglevel = "info"

# The proxy in front (nginx on the same machine) sets X-Forwarded-Proto;
# Django trusts it only with BEHIND_TLS_PROXY=1.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
