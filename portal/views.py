import secrets
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


@never_cache
@require_GET
def healthz(request):
    """For probes and anyone: ok or not, nothing else (no versions, no errors)."""
    ok = health.is_healthy()
    return JsonResponse({"status": "ok" if ok else "unavailable"}, status=200 if ok else 503)


def _may_see_health_detail(request) -> bool:
    header = request.headers.get("Authorization", "")
    token = settings.HEALTH_TOKEN
    if token and header.startswith("Bearer "):
        return secrets.compare_digest(header.removeprefix("Bearer ").strip(), token)
    return is_dpo(request.user) and second_factor_done(request.user)


@never_cache
@require_GET
def healthz_detail(request):
    """Why the portal is or is not healthy: for operators with HEALTH_TOKEN
    and for the DPO; everyone else gets a plain 404."""
    if not _may_see_health_detail(request):
        raise Http404
    status = health.detail()
    return JsonResponse(status, status=200 if status["status"] == "ok" else 503)


@never_cache
@require_GET
def metrics_text(request):
    """The figures for Prometheus, to the same callers as the health detail
    (``HEALTH_TOKEN`` as a bearer token, or a signed-in DPO); everyone else
    gets a plain 404."""
    if not _may_see_health_detail(request):
        raise Http404
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
