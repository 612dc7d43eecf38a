from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import signatures
from portal.health import overall_status


@require_GET
def home(request):
    return render(request, "portal/home.html")


@never_cache
@require_GET
def healthz(request):
    status = overall_status()
    return JsonResponse(status, status=200 if status["status"] == "ok" else 503)


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
