"""The DPO office's pages: thin, they read and act through the office's
modules and render. Every page is behind the DPO area's door."""

from __future__ import annotations

import csv
import io
import json

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from subjects.dpo.permissions import actor_name, dpo_required
from subjects.office import breaches, impact, inspection, processing
from subjects.office.forms import (
    AuthorityNotificationForm,
    BreachForm,
    CommunicationForm,
    PeriodForm,
)
from subjects.office.models import Breach, ImpactAssessment


def _download(body: str | bytes, *, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _json(data, *, name: str) -> HttpResponse:
    return _download(json.dumps(data, indent=2, ensure_ascii=False),
                     content_type="application/json; charset=utf-8", name=name)


def _csv(rows: list[list], *, name: str) -> HttpResponse:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return _download(out.getvalue(), content_type="text/csv; charset=utf-8", name=name)


def _breach_or_404(reference: str) -> Breach:
    breach = Breach.objects.filter(reference=reference).first()
    if breach is None:
        raise Http404
    return breach


@dpo_required
@require_http_methods(["GET", "POST"])
def breach_register(request):
    form = BreachForm(request.POST if request.method == "POST" else None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            breach = breaches.record_breach(actor=actor_name(request.user), **form.cleaned_data)
        except breaches.StepRefused as refused:
            error = refused.message
        else:
            messages.success(request, _("Breach %(reference)s recorded; its 72-hour clock "
                                        "runs.") % {"reference": breach.reference})
            return redirect("office:breach", breach.reference)
    status = 400 if request.method == "POST" else 200
    return render(request, "office/breaches.html", {
        "form": form, "error": error or (form.errors and _("Please correct the form below.")),
        "clocks": breaches.open_clocks(),
        "breaches": Breach.objects.all(),
    }, status=status)


def _record_form(breach: Breach) -> BreachForm:
    initial = {name: getattr(breach, name) for name in breaches.EDITABLE}
    for name in ("aware_at", "occurred_at"):
        if initial[name] is not None:
            initial[name] = timezone.localtime(initial[name]).strftime("%Y-%m-%dT%H:%M")
    return BreachForm(initial=initial, prefix="record")


def _detail(request, breach: Breach, *, notify_form=None, decide_form=None, record_form=None,
            error=None, status=200):
    return render(request, "office/breach.html", {
        "breach": breach,
        "now": timezone.now(),
        "hours_left": int(breach.hours_left() // 1),
        "draft": breaches.authority_notification(breach),
        "notify_form": notify_form or AuthorityNotificationForm(
            initial={"sent_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")}),
        "decide_form": decide_form or CommunicationForm(),
        "record_form": record_form or _record_form(breach),
        "events": breaches.events_of(breach),
        "error": error,
    }, status=status)


@dpo_required
@require_GET
def breach_detail(request, reference):
    return _detail(request, _breach_or_404(reference))


@dpo_required
@require_POST
def update_breach(request, reference):
    breach = _breach_or_404(reference)
    form = BreachForm(request.POST, prefix="record")
    if not form.is_valid():
        return _detail(request, breach, record_form=form,
                       error=_("Please correct the form below."), status=400)
    try:
        breaches.update_breach(breach, actor=actor_name(request.user), **form.cleaned_data)
    except breaches.StepRefused as refused:
        return _detail(request, breach, record_form=form, error=refused.message, status=400)
    messages.success(request, _("The breach record is updated."))
    return redirect("office:breach", breach.reference)


@dpo_required
@require_POST
def notify_authority(request, reference):
    breach = _breach_or_404(reference)
    form = AuthorityNotificationForm(request.POST)
    if not form.is_valid():
        return _detail(request, breach, notify_form=form,
                       error=_("Please correct the form below."), status=400)
    try:
        breaches.record_authority_notification(breach, actor=actor_name(request.user),
                                               **form.cleaned_data)
    except breaches.StepRefused as refused:
        return _detail(request, breach, notify_form=form, error=refused.message, status=400)
    messages.success(request, _("The notification to the supervisory authority is recorded."))
    return redirect("office:breach", breach.reference)


@dpo_required
@require_POST
def decide_communication(request, reference):
    breach = _breach_or_404(reference)
    form = CommunicationForm(request.POST)
    if not form.is_valid():
        return _detail(request, breach, decide_form=form,
                       error=_("Please correct the form below."), status=400)
    try:
        breach = breaches.decide_communication(breach, actor=actor_name(request.user),
                                               **form.cleaned_data)
    except breaches.StepRefused as refused:
        return _detail(request, breach, decide_form=form, error=refused.message, status=400)
    messages.success(request, _("The decision is recorded; %(count)d people are being told.")
                     % {"count": breach.people_told})
    return redirect("office:breach", breach.reference)


@dpo_required
@require_GET
def notification_text(request, reference):
    breach = _breach_or_404(reference)
    text = render_to_string("office/authority_notification.txt",
                            {"n": breaches.authority_notification(breach)})
    return _download(text, content_type="text/plain; charset=utf-8",
                     name=f"{breach.reference}-notification.txt")


@dpo_required
@require_GET
def notification_json(request, reference):
    breach = _breach_or_404(reference)
    return _json(breaches.authority_notification(breach),
                 name=f"{breach.reference}-notification.json")


@dpo_required
@require_GET
def register_json(request):
    stamp = timezone.localdate().isoformat()
    return _json(breaches.register(), name=f"breach-register-{stamp}.json")


@dpo_required
@require_GET
def register_csv(request):
    stamp = timezone.localdate().isoformat()
    return _csv(breaches.register_csv_rows(breaches.register()),
                name=f"breach-register-{stamp}.csv")


@dpo_required
@require_GET
def processing_record(request):
    return render(request, "office/processing.html",
                  {"record": processing.record_of_processing()})


@dpo_required
@require_GET
def processing_json(request):
    stamp = timezone.localdate().isoformat()
    return _json(processing.record_of_processing(), name=f"record-of-processing-{stamp}.json")


@dpo_required
@require_GET
def processing_csv(request):
    stamp = timezone.localdate().isoformat()
    return _csv(processing.record_rows(processing.record_of_processing()),
                name=f"record-of-processing-{stamp}.csv")


@dpo_required
@require_http_methods(["GET", "POST"])
def impact_assessments(request):
    if request.method == "POST":
        assessment = impact.generate_assessment(actor=actor_name(request.user))
        messages.success(request, _("Version %(version)d of the impact assessment is generated.")
                         % {"version": assessment.version})
        return redirect("office:impact", assessment.version)
    return render(request, "office/impact_list.html",
                  {"assessments": ImpactAssessment.objects.only("version", "generated_at",
                                                                "generated_by")})


def _assessment_or_404(version: int) -> ImpactAssessment:
    assessment = ImpactAssessment.objects.filter(version=version).first()
    if assessment is None:
        raise Http404
    return assessment


@dpo_required
@require_GET
def impact_assessment(request, version):
    assessment = _assessment_or_404(version)
    return render(request, "office/impact.html",
                  {"assessment": assessment, "d": assessment.document})


@dpo_required
@require_GET
def impact_assessment_json(request, version):
    assessment = _assessment_or_404(version)
    return _json(assessment.document, name=f"impact-assessment-v{version}.json")


@dpo_required
@require_http_methods(["GET", "POST"])
def inspection_export(request):
    """The signed archive for the supervisory authority, for a period."""
    form = PeriodForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        export = inspection.build_export(since=form.cleaned_data["since"],
                                         until=form.cleaned_data["until"],
                                         actor=actor_name(request.user))
        return _download(export.data, content_type="application/zip", name=export.file_name)
    return render(request, "office/inspection.html", {"form": form},
                  status=400 if request.method == "POST" else 200)
