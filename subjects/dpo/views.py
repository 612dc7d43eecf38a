"""The DPO's pages. Thin: they read through ``selectors``, act through
``actions`` and render."""

from __future__ import annotations

import django_otp
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import update_session_auth_hash
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.ratelimit import RateLimited
from subjects.core import notices
from subjects.core.audit import chain_head
from subjects.core.faces import confirmed_matches, crop_of_match, pending_claims
from subjects.dpo import accounts, selectors
from subjects.dpo.forms import (
    ACTION_FORMS,
    ApiKeyForm,
    LoginForm,
    PasswordChangeForm,
    QueueFilterForm,
    action_form,
)
from subjects.dpo.models import ApiKey
from subjects.dpo.permissions import actor_name, dpo_required, is_dpo, second_factor_done
from subjects.dpo.register import register_csv
from subjects.models import Match, RightsRequest
from subjects.review import actions
from subjects.review.decisions import DecisionRefused
from subjects.web.charts import section
from subjects.web.responses import package_download, private_jpeg

PAGE_SIZE = 50


def _next_url(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback


@never_cache
@require_http_methods(["GET", "POST"])
def login(request):
    user = request.user
    if is_dpo(user) and second_factor_done(user):
        return redirect(_next_url(request, reverse("dpo:queue")))
    form = LoginForm(request.POST if request.method == "POST" else None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            # Password guessing is held back per address and per IP, 2FA or
            # not, with the same counts as the admin's login.
            accounts.hold_back_guessing(request, form.cleaned_data["email"])
        except RateLimited as limited:
            response = render(request, "dpo/login.html",
                              {"form": form, "error": limited.message,
                               "next": _next_url(request, "")}, status=429)
            response["Retry-After"] = str(limited.retry_after)
            return response
        try:
            user, device = accounts.check_login(request, email=form.cleaned_data["email"],
                                                password=form.cleaned_data["password"],
                                                code=form.cleaned_data.get("code", ""))
        except accounts.LoginRefused:
            error = _("The e-mail address, the password or the code is wrong, or this account "
                      "has no access to the DPO area.")
        else:
            auth_login(request, user)
            if device is not None:
                django_otp.login(request, device)
            return redirect(_next_url(request, reverse("dpo:queue")))
    status = 400 if request.method == "POST" else 200
    return render(request, "dpo/login.html",
                  {"form": form, "error": error, "next": _next_url(request, "")}, status=status)


@require_POST
def logout(request):
    auth_logout(request)
    return redirect("dpo:login")


@dpo_required
@require_GET
def queue(request):
    form = QueueFilterForm(request.GET or None)
    filters = form.filters()
    today = timezone.localdate()
    counts = selectors.counts(today=today)
    page = Paginator(selectors.queue(filters, today=today), PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "dpo/queue.html", {
        "form": form,
        "filters": filters,
        "page": page,
        "rows": selectors.rows(page, today),
        "counts": counts,
        "counts_by_state": counts.per_state(),
        "auto_approve": settings.AUTO_APPROVE_REQUESTS,
        "today": today,
        "sort_links": {
            # A column sorts ascending first, and descending when clicked again.
            column: f"-{column}" if filters.sort == column else column
            for column in ("reference", "state", "received", "due")
        },
    })


def _request_or_404(reference: str):
    found = selectors.request_for_dpo(reference)
    if found is None:
        raise Http404
    return found


def _detail_context(rights_request, *, forms=None, error=None) -> dict:
    offered = actions.available_actions(rights_request)
    forms = forms or {}
    matches = selectors.matches_of(rights_request)
    return {
        "rights_request": rights_request,
        "row": selectors.QueueRow(rights_request, timezone.localdate()),
        "matches": matches,
        "confirmed": [m for m in matches if m.decision == Match.Decision.MINE],
        "timeline": selectors.timeline(rights_request),
        "jobs": list(rights_request.jobs.all()),
        "notices": notices.notices_of(rights_request),
        "has_review_selfie": bool(rights_request.selfie_review_file),
        "has_answer_photo": bool(rights_request.answer_photo_file),
        "pending_claims": [m.pk for m in pending_claims(rights_request)],
        # What approving will do, as the person saw it before filing.
        "approval": {
            "faces": list(confirmed_matches(rights_request).order_by("distance", "pk")),
            "claims": list(pending_claims(rights_request).order_by("distance", "pk")),
            "erases": rights_request.erasure or rights_request.objection,
        } if actions.APPROVE in offered else None,
        "earlier_requests": selectors.earlier_requests(rights_request),
        "camera_evidence": selectors.camera_evidence(rights_request),
        "package": getattr(rights_request, "package", None),
        "actions": [
            {"name": name, "label": actions.LABELS[name],
             "form": forms.get(name) or action_form(name, rights_request)}
            for name in offered
        ],
        "error": error,
    }


@dpo_required
@require_GET
def request_detail(request, reference):
    rights_request = _request_or_404(reference)
    return render(request, "dpo/request.html", _detail_context(rights_request))


#: Actions that cannot be undone: each asks for a confirmation first.
IRREVERSIBLE = {actions.APPROVE, actions.REJECT, actions.CLOSE_UNFOUNDED}


@dpo_required
@require_POST
def request_action(request, reference, action):
    rights_request = _request_or_404(reference)
    if action not in ACTION_FORMS:
        raise Http404
    form = action_form(action, rights_request, request.POST)
    if not form.is_valid():
        context = _detail_context(rights_request, forms={action: form},
                                  error=_("Please correct the form below."))
        return render(request, "dpo/request.html", context, status=400)
    if action in IRREVERSIBLE and request.POST.get("confirmed") != "yes" and \
            action in actions.available_actions(rights_request):
        # Nothing that cannot be undone happens in one click: the same
        # data is shown back with what it will do, and sent from there.
        context = _detail_context(rights_request)
        # What approving does, with the rights refused here left out.
        refused = [kind for kind in rights_request.kinds
                   if form.cleaned_data.get(f"{kind}_refusal")]
        if context["approval"] is not None:
            context["approval"]["erases"] = any(
                kind in ("erasure", "objection") and kind not in refused
                for kind in rights_request.kinds)
        return render(request, "dpo/confirm_action.html",
                      {**context, "action": action, "label": actions.LABELS[action],
                       "posted": form.data,
                       "refused": [RightsRequest.Kind(kind).label for kind in refused]})
    try:
        actions.perform(rights_request, action, actor=actor_name(request.user),
                        data=form.cleaned_data)
    except DecisionRefused as refused:
        rights_request = _request_or_404(reference)
        context = _detail_context(rights_request, forms={action: form}, error=refused.message)
        return render(request, "dpo/request.html", context,
                      status=refused.status if refused.status != 404 else 400)
    messages.success(request, _("Done: %(action)s.") % {"action": actions.LABELS[action]})
    return redirect("dpo:request", rights_request.reference)


@dpo_required
@require_GET
def face_crop(request, reference, match_id):
    rights_request = _request_or_404(reference)
    data = crop_of_match(rights_request, match_id)
    return private_jpeg(data)


@dpo_required
@require_GET
def review_selfie(request, reference):
    """The selfie kept for the DPO: an upload they check before the
    requester sees matches, or the live camera picture they compare the
    matches with until they decide the filed request."""
    data = selectors.review_selfie_jpeg(_request_or_404(reference))
    return private_jpeg(data)


@dpo_required
@require_GET
def answer_photo(request, reference):
    """The photo the person sent with their answer to the DPO's question."""
    return private_jpeg(selectors.answer_photo_jpeg(_request_or_404(reference)))


@dpo_required
@require_GET
def access_package(request, reference):
    """The access package, for the DPO to check what the person receives;
    audited like the person's own downloads."""
    rights_request = _request_or_404(reference)
    package = getattr(rights_request, "package", None)
    if package is None or not package.is_available or not package.file:
        raise Http404
    return package_download(package, actor=actor_name(request.user))


@dpo_required
@require_GET
def figures(request):
    data = selectors.figures()
    weeks, completion, open_overdue = data["per_week"], data["completion"], data["open_overdue"]
    months = completion["months"]
    sections = [
        # The chart counts requests once each; the table adds the types (a
        # request may ask for several, so they can add up to more).
        section("per-week", _("Requests per week"), "bars",
                 _("No request in this period."),
                 [_("Week of"), _("Requests"), _("Access"), _("Erasure"), _("Objection")],
                 [[w["week"].isoformat(), w["requests"], w["access"], w["erasure"],
                   w["objection"]] for w in weeks],
                 [(_("Requests"), [w["requests"] for w in weeks])],
                 intro=_("Each request counts once. The table also gives the types asked "
                         "for: a request may ask for several.")),
        section("completion", _("Median days to completion, by month of completion"), "bars",
                 _("No request completed in this period."),
                 [_("Month"), _("Median days"), _("Completed")],
                 [[m["month"].strftime("%Y-%m"),
                   "—" if m["median_days"] is None else m["median_days"], m["completed"]]
                  for m in months],
                 [(_("Median days to completion"), [m["median_days"] for m in months])],
                 has_data=any(m["completed"] for m in months)),
        section("open", _("Open and overdue requests over time"), "lines",
                 _("No open request in this period."),
                 [_("Day"), _("Open"), _("Overdue")],
                 [[p["day"].isoformat(), p["open"], p["overdue"]] for p in open_overdue],
                 [(_("Open"), [p["open"] for p in open_overdue]),
                  (_("Overdue"), [p["overdue"] for p in open_overdue])]),
    ]
    return render(request, "dpo/figures.html", {"figures": data, "sections": sections,
                                                "audit_head": chain_head()})


@dpo_required
@require_GET
def register(request):
    response = StreamingHttpResponse(register_csv(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="register-{stamp}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


@dpo_required
@require_http_methods(["GET", "POST"])
def api_keys(request):
    """A DPO's own keys for DPO tools; a new key is shown once, here."""
    form = ApiKeyForm(request.POST if request.method == "POST" else None, user=request.user)
    new_key = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            _row, new_key = ApiKey.issue(name=form.cleaned_data["name"],
                                         purpose=ApiKey.Purpose.DPO, user=request.user,
                                         scope=form.cleaned_data["scope"])
            form = ApiKeyForm(user=request.user)
            status = 201
        else:
            status = 400
    keys = ApiKey.objects.filter(user=request.user, purpose=ApiKey.Purpose.DPO)
    return render(request, "dpo/api_keys.html", {"form": form, "keys": keys, "new_key": new_key},
                  status=status)


@dpo_required
@require_http_methods(["GET", "POST"])
def change_password(request):
    """The signed-in DPO's new password (the old one and the code first);
    the other sessions of the account end, this one goes on."""
    form = PasswordChangeForm(request.user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        messages.success(request, _("Your password is changed. Other sessions of your account "
                                    "have ended."))
        return redirect("dpo:queue")
    return render(request, "dpo/password.html", {"form": form},
                  status=400 if request.method == "POST" else 200)


@dpo_required
@require_POST
def revoke_api_key(request, key_id):
    key = ApiKey.objects.filter(pk=key_id, user=request.user).first()
    if key is None:
        raise Http404
    key.revoke()
    messages.success(request, _("The key %(prefix)s… no longer works.") % {"prefix": key.prefix})
    return redirect("dpo:api_keys")
