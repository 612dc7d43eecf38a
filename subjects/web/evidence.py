"""Pages anyone can use to check the portal without trusting it: the
transparency page and its downloads, the published audit heads, a
person's signed erasure receipt, and the link by which a recipient of an
Art. 19 notice confirms it acted on it. Thin: the figures come from
``transparency``, the rest from the jobs and the core."""

from __future__ import annotations

import csv
import datetime as dt
import io

from django import forms
from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from subjects.core import notices, tokens
from subjects.jobs.receipts import receipt_file_name, receipt_of
from subjects.models import PublishedAuditHead, RecipientNotice
from subjects.web import transparency
from subjects.web.charts import section
from subjects.web.views import with_request

#: Heads listed on the page; the JSON download has them all.
HEADS_ON_PAGE = 31


def _cell(value) -> str:
    return "—" if value is None else str(value)


def _number(value):
    """A chart value: the count, or None for one withheld."""
    return None if isinstance(value, transparency.FewerThan) else value


def _counts_section(months, key, heading, kind, empty, names, *, intro="",
                    figures="counts") -> dict:
    """A section of counts: one series per name, read from each month's
    ``figures`` (its counts, extensions or rejections)."""
    labels = {"counts": transparency.LABELS, "extensions": transparency.EXTENSION_LABELS,
              "rejections": transparency.REJECTION_LABELS}[figures]
    values = [getattr(month, figures) for month in months]
    return section(
        key, heading, kind, empty, [_("Month"), *(labels[name] for name in names)],
        [[month.label, *(_cell(found[name]) for name in names)]
         for month, found in zip(months, values, strict=True)],
        [(labels[name], [_number(found[name]) for found in values]) for name in names],
        intro=intro, open=True)


def transparency_sections(months) -> list[dict]:
    return [
        _counts_section(months, "received", _("Requests received, by type"), "bars",
                        _("No month has enough requests to show."),
                        transparency.RECEIVED,
                        intro=_("A request can be of more than one type.")),
        _counts_section(months, "answered", _("How the requests received were answered"),
                        "stacked", _("No month has enough requests to show."),
                        transparency.ANSWERED,
                        intro=_("Within a month: by the first due date (one month, plus days "
                                "spent waiting for information from the person). Late: "
                                "answered after the due date, or still open past it.")),
        section("days", _("Days to answer"), "lines",
                _("No month has enough answered requests to show."),
                [_("Month"), transparency.LABELS["answered"],
                 transparency.LABELS["median_days"], transparency.LABELS["p90_days"]],
                [[m.label, str(m.counts["answered"]), _cell(m.median_days), _cell(m.p90_days)]
                 for m in months],
                [(transparency.LABELS["median_days"], [m.median_days for m in months]),
                 (transparency.LABELS["p90_days"], [m.p90_days for m in months])],
                intro=_("From receipt to the answer (completion or rejection), in calendar "
                        "days, for the requests received in the month; shown only when "
                        "enough of them were answered."), open=True),
        _counts_section(months, "extensions", _("Extensions, by ground"), "stacked",
                        _("No month has enough extensions to show."),
                        list(transparency.EXTENSION_LABELS), figures="extensions"),
        _counts_section(months, "rejections", _("Rejections, by ground"), "stacked",
                        _("No month has enough rejections to show."),
                        list(transparency.REJECTION_LABELS), figures="rejections"),
        _counts_section(months, "erased", _("Faces and photos erased"), "bars",
                        _("No month has enough erasures to show."), transparency.ERASED,
                        intro=_("In the month the erasure was completed. A photo that also "
                                "shows other people is kept with the person's face removed.")),
        _counts_section(months, "notices", _("Art. 19 notices to recipients"), "bars",
                        _("No month has enough notices to show."), transparency.NOTICES,
                        intro=_("Customers that received an erased face are told of the "
                                "erasure and asked to confirm that they erased or stopped "
                                "using it.")),
        _counts_section(months, "suppression", _("Suppression list size"), "lines",
                        _("The suppression list is too small to show."),
                        ("suppression_list",),
                        intro=_("Face templates kept, with the person's consent, only to "
                                "refuse their face when new photos are collected; at the end "
                                "of each month.")),
    ]


@require_GET
def transparency_page(request):
    months = transparency.monthly_figures()
    return render(request, "subjects/transparency.html", {
        "sections": transparency_sections(months),
        "threshold": settings.TRANSPARENCY_MIN_COUNT,
        "heads": transparency.audit_heads(HEADS_ON_PAGE),
        "keys_url": reverse("receipt_keys"),
    })


@require_GET
def transparency_csv(request):
    out = io.StringIO()
    csv.writer(out).writerows(transparency.csv_rows(transparency.monthly_figures()))
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="transparency.csv"'
    return response


def _head_url(request, head: PublishedAuditHead) -> str:
    return request.build_absolute_uri(
        reverse("subjects:audit_head", args=[head.published_on.isoformat()]))


@require_GET
def transparency_json(request):
    data = transparency.as_json(
        transparency.monthly_figures(), transparency.audit_heads(),
        keys_url=request.build_absolute_uri(reverse("receipt_keys")),
        head_url=lambda head: _head_url(request, head))
    response = JsonResponse(data, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = 'attachment; filename="transparency.json"'
    return response


def _signed_download(document: str, file_name: str) -> HttpResponse:
    response = HttpResponse(document, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response


@require_GET
def audit_head(request, day):
    try:
        published_on = dt.date.fromisoformat(day)
    except ValueError:
        raise Http404 from None
    head = PublishedAuditHead.objects.filter(published_on=published_on).first()
    if head is None:
        raise Http404
    return _signed_download(head.document, f"audit-head-{head.published_on.isoformat()}.json")


@with_request(once_closed=True)
@require_GET
def receipt(request, rights_request, token):
    """The person's signed erasure receipt, exactly as issued."""
    found = receipt_of(rights_request)
    if found is None:
        raise Http404
    response = _signed_download(found.document, receipt_file_name(found))
    response["Cache-Control"] = "private, no-store"
    return response


class AcknowledgeForm(forms.Form):
    confirmed = forms.ChoiceField(
        label=gettext_lazy("We confirm that"), widget=forms.RadioSelect,
        choices=RecipientNotice.Confirmation.choices)


@never_cache
@require_http_methods(["GET", "POST"])
def acknowledge(request, token):
    """A recipient confirms an Art. 19 notice by the link in it (a POST, so
    that a mail scanner following the link confirms nothing)."""
    try:
        notice = tokens.notice_for_acknowledgement(token)
    except tokens.LinkProblem as problem:
        return render(request, "subjects/acknowledge.html", {"problem": problem.code},
                      status=410 if problem.code == "expired" else 404)
    form = AcknowledgeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and notice.acknowledged_at is None and form.is_valid():
        notices.acknowledge(notice, confirmed=form.cleaned_data["confirmed"])
        return redirect("subjects:acknowledge", token)
    return render(request, "subjects/acknowledge.html",
                  {"notice": notice, "form": form},
                  status=400 if request.method == "POST" and form.errors else 200)
