import secrets
import time
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import health, metrics, signatures
from portal.mailbox import read_mailbox
from subjects.dpo.permissions import is_dpo, second_factor_done


@require_GET
def home(request):
    return render(request, "portal/home.html")


# The last answer of /healthz in this process: (monotonic time, healthy).
_last_health: tuple[float, bool] | None = None


@never_cache
@require_GET
def healthz(request):
    """For probes and anyone: ok or not, nothing else (no versions, no errors).
    The check behind it (the database, the broker, every queue's heartbeat)
    runs at most once per HEALTHZ_CACHE_SECONDS in each process, however
    many anonymous callers ask."""
    global _last_health
    now = time.monotonic()
    if _last_health is None or now - _last_health[0] >= settings.HEALTHZ_CACHE_SECONDS:
        _last_health = (now, health.is_healthy())
    ok = _last_health[1]
    return JsonResponse({"status": "ok" if ok else "unavailable"}, status=200 if ok else 503)


def _health_credentials(request) -> bool | None:
    """True for HEALTH_TOKEN or a signed-in DPO, False for a bearer value
    that is not the token (whatever its characters), None for no
    credentials at all."""
    header = request.headers.get("Authorization", "")
    token = settings.HEALTH_TOKEN
    if header.startswith("Bearer "):
        presented = header.removeprefix("Bearer ").strip().encode("utf-8", "replace")
        return bool(token) and secrets.compare_digest(presented, token.encode("utf-8"))
    if is_dpo(request.user) and second_factor_done(request.user):
        return True
    return None


def _refused_health_caller(request):
    """The answer for a caller of the health detail or the metrics who may
    not see them: 401 for a wrong bearer value, a plain 404 for no
    credentials; None for one who may."""
    allowed = _health_credentials(request)
    if allowed is False:
        response = JsonResponse({"detail": "This token is not the health token."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="healthz"'
        return response
    if not allowed:
        raise Http404
    return None


@never_cache
@require_GET
def healthz_detail(request):
    """Why the portal is or is not healthy: for operators with HEALTH_TOKEN
    and for the DPO; a wrong bearer value gets 401, no credentials a plain
    404."""
    refused = _refused_health_caller(request)
    if refused is not None:
        return refused
    status = health.detail()
    return JsonResponse(status, status=200 if status["status"] == "ok" else 503)


@never_cache
@require_GET
def metrics_text(request):
    """The figures for Prometheus, to the same callers as the health detail
    (``HEALTH_TOKEN`` as a bearer token, or a signed-in DPO); a wrong token
    gets a 401, no credentials a plain 404."""
    refused = _refused_health_caller(request)
    if refused is not None:
        return refused
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)


@require_GET
def receipt_keys(request):
    """The public keys that check the portal's signed receipts and audit
    heads: the current one and every retired one."""
    response = JsonResponse({"keys": [key.as_dict() for key in signatures.published_keys()]},
                            json_dumps_params={"indent": 2})
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def receipt_key(request, key_id):
    """One public key as PEM, for ``openssl pkeyutl -verify``."""
    for key in signatures.published_keys():
        if key.key_id == key_id:
            return HttpResponse(key.pem, content_type="application/x-pem-file")
    raise Http404


@never_cache
@require_GET
def mailbox(request):
    """The demo's outgoing e-mails with clickable links, so the whole journey
    can be walked in a browser. Exists only with DEBUG on."""
    if not settings.DEBUG:
        raise Http404
    to_files = settings.EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend"
    mails = read_mailbox(Path(settings.EMAIL_FILE_PATH)) if to_files else []
    return render(request, "portal/mailbox.html", {"mails": mails, "to_files": to_files,
                                                    "folder": settings.EMAIL_FILE_PATH})
