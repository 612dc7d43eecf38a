from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from subjects.models import RightsRequest
from subjects.office.categories import DATA_CATEGORIES, PEOPLE_CATEGORIES
from subjects.office.models import Breach

_WHEN = {"type": "datetime-local"}


class BreachForm(forms.Form):
    summary = forms.CharField(label=_("What happened"), widget=forms.Textarea(attrs={"rows": 4}),
                              max_length=10000)
    occurred_at = forms.DateTimeField(label=_("When it happened (if known)"), required=False,
                                      widget=forms.DateTimeInput(attrs=_WHEN))
    aware_at = forms.DateTimeField(label=_("When you became aware of it"),
                                   widget=forms.DateTimeInput(attrs=_WHEN))
    data_categories = forms.MultipleChoiceField(
        label=_("Categories of data concerned"), choices=list(DATA_CATEGORIES.items()),
        widget=forms.CheckboxSelectMultiple)
    people_categories = forms.MultipleChoiceField(
        label=_("Categories of people concerned"), choices=list(PEOPLE_CATEGORIES.items()),
        widget=forms.CheckboxSelectMultiple)
    approx_people = forms.IntegerField(label=_("Approximate number of people concerned"),
                                       min_value=0, max_value=10**15)
    approx_records = forms.IntegerField(label=_("Approximate number of records concerned"),
                                        min_value=0, max_value=10**15)
    consequences = forms.CharField(label=_("Likely consequences"), max_length=10000,
                                   widget=forms.Textarea(attrs={"rows": 3}))
    measures_taken = forms.CharField(label=_("Measures taken"), max_length=10000,
                                     widget=forms.Textarea(attrs={"rows": 3}))
    measures_proposed = forms.CharField(label=_("Measures proposed"), required=False,
                                        max_length=10000,
                                        widget=forms.Textarea(attrs={"rows": 3}))
    decided_by = forms.CharField(label=_("Who decided"), max_length=150)


class AuthorityNotificationForm(forms.Form):
    sent_at = forms.DateTimeField(label=_("When the notification was sent"),
                                  widget=forms.DateTimeInput(attrs=_WHEN))
    authority_case = forms.CharField(label=_("The authority's case number (if given)"),
                                     required=False, max_length=100)
    delay_reason = forms.CharField(
        label=_("Reasons for the delay (required after 72 hours)"), required=False,
        max_length=10000, widget=forms.Textarea(attrs={"rows": 3}))


class CommunicationForm(forms.Form):
    communication = forms.ChoiceField(
        label=_("Telling the people affected"), widget=forms.RadioSelect,
        choices=[c for c in Breach.Communication.choices
                 if c[0] != Breach.Communication.UNDECIDED])
    reasons = forms.CharField(label=_("Reasons for the decision"), max_length=10000,
                              widget=forms.Textarea(attrs={"rows": 3}))
    affects_all_requesters = forms.BooleanField(
        label=_("The breach affects everyone with a request on this portal"), required=False)
    affected_references = forms.CharField(
        label=_("Or the references of the requests it affects (one per line)"), required=False,
        max_length=100000, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_affected_references(self) -> list[str]:
        references = sorted({line.strip().upper() for line in
                             self.cleaned_data["affected_references"].split() if line.strip()})
        known = set(RightsRequest.objects.filter(reference__in=references)
                    .values_list("reference", flat=True))
        unknown = [r for r in references if r not in known]
        if unknown:
            raise forms.ValidationError(
                _("No request has the reference %(references)s."),
                params={"references": ", ".join(unknown[:10])})
        return references


#: The longest period one inspection export covers (its transparency figures
#: are computed month by month).
MAX_PERIOD_DAYS = 10 * 366


class PeriodForm(forms.Form):
    since = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To (included)"),
                            widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until"):
            if data["since"] > data["until"]:
                raise forms.ValidationError(_("The period ends before it begins."))
            if (data["until"] - data["since"]).days > MAX_PERIOD_DAYS:
                raise forms.ValidationError(_("The period can be at most ten years long."))
        return data
