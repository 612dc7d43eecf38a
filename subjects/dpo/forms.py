from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.utils.translation import gettext_lazy as _

from subjects.core.deadlines import EXTENSION_GROUNDS
from subjects.core.faces import pending_claims
from subjects.core.states import DPO_LABELS, State
from subjects.dpo import accounts
from subjects.dpo.models import ApiKey
from subjects.dpo.selectors import DEFAULT_SORT, SORTS, QueueFilters
from subjects.models import RightsRequest
from subjects.review import actions


class LoginForm(forms.Form):
    email = forms.CharField(label=_("E-mail address"), max_length=254,
                            widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(label=_("Password"), strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete":
                                                                 "current-password"}))
    code = forms.CharField(
        label=_("Code from your authenticator app"), max_length=12, required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "pattern": "[0-9 ]*"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Without a required second factor (DEBUG's default) the form asks
        # for no code, rather than for one that nothing checks.
        if not settings.REQUIRE_DPO_2FA:
            del self.fields["code"]


DUE_CHOICES = [
    ("", _("Any due date")),
    ("overdue", _("Overdue")),
    ("week", _("Due within 7 days")),
    ("month", _("Due within a month")),
    ("none", _("Not filed (no due date)")),
]
SORT_LABELS = {
    "due": _("Due date, soonest first"),
    "-due": _("Due date, latest first"),
    "received": _("Received, oldest first"),
    "-received": _("Received, newest first"),
    "created": _("Started, oldest first"),
    "-created": _("Started, newest first"),
    "reference": _("Reference A–Z"),
    "-reference": _("Reference Z–A"),
    "state": _("State A–Z"),
    "-state": _("State Z–A"),
}


class QueueFilterForm(forms.Form):
    q = forms.CharField(label=_("Reference"), required=False, max_length=40)
    state = forms.MultipleChoiceField(
        label=_("State"), required=False,
        choices=[(state.value, DPO_LABELS.get(state, state.label)) for state in State])
    type = forms.MultipleChoiceField(label=_("Type"), choices=RightsRequest.Kind.choices,
                                     required=False)
    language = forms.MultipleChoiceField(label=_("Language"), required=False, choices=())
    due = forms.ChoiceField(label=_("Due"), choices=DUE_CHOICES, required=False)
    unverified = forms.BooleanField(label=_("Show never-verified requests"), required=False)
    everything = forms.BooleanField(label=_("Show closed and not yet filed requests too"),
                                    required=False)
    sort = forms.ChoiceField(label=_("Sort by"), required=False,
                             choices=[(key, SORT_LABELS[key]) for key in SORTS])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = settings.LANGUAGES

    def filters(self) -> QueueFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return QueueFilters(
            states=data.get("state") or [],
            kinds=data.get("type") or [],
            languages=data.get("language") or [],
            due=data.get("due") or "",
            reference=data.get("q") or "",
            include_unverified=bool(data.get("unverified")),
            open_only=not data.get("everything"),
            sort=data.get("sort") or DEFAULT_SORT,
        )


class ApproveForm(forms.Form):
    """Approve, deciding each right asked for: left on "approve", a right is
    carried out; given a reason valid for it, it is refused."""

    def __init__(self, *args, rights_request=None, **kwargs):
        super().__init__(*args, **kwargs)
        kinds = rights_request.kinds if rights_request is not None else []
        if len(kinds) < 2:
            return  # one right: approve it, or reject the request
        for kind, label in RightsRequest.Kind.choices:
            if kind not in kinds:
                continue
            self.fields[f"{kind}_refusal"] = forms.ChoiceField(
                label=label, required=False,
                choices=[("", _("Approve")), *actions.reasons_for([kind]).items(),
                         ("unfounded", actions.REJECTION_GROUNDS["unfounded"])])
            self.fields[f"{kind}_reason"] = forms.CharField(
                label=_("If refused, in your words (the person reads this)"), required=False,
                widget=forms.Textarea(attrs={"rows": 2}), max_length=4000)


class RejectForm(forms.Form):
    reason_template = forms.ChoiceField(
        label=_("Reason"), choices=[("", "—")] + list(actions.REJECTION_REASONS.items()),
        required=False)
    reason = forms.CharField(label=_("In your words (the person reads this)"), required=False,
                             widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)

    def __init__(self, *args, rights_request=None, **kwargs):
        super().__init__(*args, **kwargs)
        if rights_request is not None and rights_request.kinds:
            # Only the reasons valid for every right asked for: no Art. 17(3)
            # for an access request.
            self.fields["reason_template"].choices = [
                ("", "—"), *actions.reasons_for(rights_request.kinds).items()]


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason (the person reads this)"), max_length=4000,
                             widget=forms.Textarea(attrs={"rows": 3}))


class ExtendForm(forms.Form):
    months = forms.TypedChoiceField(label=_("By"), coerce=int,
                                    choices=[(1, _("one month")), (2, _("two months"))])
    ground = forms.ChoiceField(label=_("Ground (the person is told it)"),
                               choices=[("", "—"), *EXTENSION_GROUNDS.items()])
    reason = forms.CharField(label=_("Reason (the person reads this)"), max_length=4000,
                             widget=forms.Textarea(attrs={"rows": 3}))


class QuestionForm(forms.Form):
    question = forms.CharField(label=_("What do you need to know?"), max_length=4000,
                               widget=forms.Textarea(attrs={"rows": 3}))
    photo = forms.BooleanField(label=_("The person may answer with a photo"), required=False)


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note for the record"), required=False, max_length=4000,
                           widget=forms.Textarea(attrs={"rows": 2}))


class EmptyForm(forms.Form):
    pass


class ClaimsForm(forms.Form):
    """Which ``possible`` faces the person claimed are theirs (as the DPO
    sees them beside the camera picture); the others are declined."""

    faces = forms.TypedMultipleChoiceField(
        label=_("These claimed faces are the person's"), coerce=int, required=False,
        widget=forms.CheckboxSelectMultiple, choices=())

    def __init__(self, *args, rights_request=None, **kwargs):
        super().__init__(*args, **kwargs)
        if rights_request is not None:
            self.fields["faces"].choices = [
                (m.pk, _("Face %(number)d (distance %(distance).3f)")
                 % {"number": m.pk, "distance": m.distance})
                for m in pending_claims(rights_request)]


#: The form each action posts.
ACTION_FORMS = {
    actions.CONFIRM_REQUESTER: EmptyForm,
    actions.DECIDE_CLAIMS: ClaimsForm,
    actions.APPROVE: ApproveForm,
    actions.REJECT: RejectForm,
    actions.EXTEND: ExtendForm,
    actions.ASK_FOR_INFORMATION: QuestionForm,
    actions.INFORMATION_RECEIVED: NoteForm,
    actions.CLOSE_UNFOUNDED: ReasonForm,
    actions.RESUME: EmptyForm,
    actions.SEARCH_AGAIN: EmptyForm,
    actions.RENEW_LINKS: EmptyForm,
}


def _code_field():
    return forms.CharField(
        label=_("Code from your authenticator app"), max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "pattern": "[0-9 ]*"}))


class CodeAgain(forms.Form):
    """A form that asks for the authenticator code again (where the second
    factor is required), checked only once the rest of the form is right:
    a code counts once, so a form refused for another reason must not use
    it up. ``self.user`` is the account the code must belong to."""

    code = _code_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not settings.REQUIRE_DPO_2FA:
            del self.fields["code"]

    def clean(self):
        cleaned = super().clean()
        if "code" in self.fields and not self.errors and accounts.verified_device(
                self.user, cleaned.get("code", "")) is None:
            self.add_error("code", _("This code is wrong or was used already. Enter the code "
                                     "your authenticator app shows now."))
        return cleaned


class ApiKeyForm(CodeAgain):
    """A new key: what it is for, what it may do, and the code again (a
    session left open must not be enough to make a key)."""

    name = forms.CharField(label=_("What is this key for?"), max_length=100)
    scope = forms.ChoiceField(label=_("What may it do?"), choices=ApiKey.Scope.choices,
                              initial=ApiKey.Scope.READ)
    field_order = ["name", "scope", "code"]

    def __init__(self, *args, user=None, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)


class PasswordChangeForm(CodeAgain, auth_forms.PasswordChangeForm):
    """A new password, with the old one and (where required) the code."""

    field_order = ["old_password", "new_password1", "new_password2", "code"]


def action_form(name: str, rights_request, data=None):
    """The form of action ``name`` for this request (with ``data`` if posted)."""
    form_class = ACTION_FORMS[name]
    extra = ({"rights_request": rights_request}
             if form_class in (ClaimsForm, RejectForm, ApproveForm) else {})
    return form_class(data, prefix=name, **extra)
