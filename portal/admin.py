"""Django's admin, for superusers only (and with the second factor where
DPO accounts need one): DPO staff work in the dashboard, whose actions
keep the state machine and the audit trail; the admin does not.

Its login is the same policy as the dashboard's (subjects.dpo.accounts):
the same counts per address and per account, the password and the code
checked together, and one answer whatever was wrong."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.ratelimit import RateLimited
from subjects.dpo import accounts
from subjects.dpo.models import ApiKey
from subjects.dpo.permissions import requires_second_factor


class StaffLoginForm(AdminAuthenticationForm):
    """The admin's login: limits first, then password and code together."""

    otp_token = forms.CharField(label=_("Code from your authenticator app"), required=False,
                                max_length=12,
                                widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                              "inputmode": "numeric"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not requires_second_factor():
            del self.fields["otp_token"]

    def clean(self):
        email = self.cleaned_data.get("username") or ""
        password = self.cleaned_data.get("password") or ""
        try:
            accounts.hold_back_guessing(self.request, email)
        except RateLimited as limited:
            raise ValidationError(limited.message, code="too_many") from None
        try:
            user, device = accounts.check_login(
                self.request, email=email, password=password,
                code=self.cleaned_data.get("otp_token") or "", door="admin")
        except accounts.LoginRefused:
            raise ValidationError(accounts.WRONG_ADMIN_LOGIN, code="invalid_login") from None
        if device is not None:
            user.otp_device = device  # django-otp keeps it in the session at login
        self.user_cache = user
        return self.cleaned_data


class SuperuserAdminSite(admin.AdminSite):
    site_header = "Face Rights Portal administration"
    site_title = "Face Rights Portal admin"

    login_form = StaffLoginForm
    login_template = "admin/staff_login.html"

    def has_permission(self, request):
        user = request.user
        if not (user.is_active and user.is_superuser):
            return False
        return not requires_second_factor() or user.is_verified()


class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "purpose", "user", "prefix", "created_at", "last_used_at",
                    "revoked_at")
    list_filter = ("purpose",)
    # Keys are made by createcrawlerkey or on the dashboard, where the key is shown once.
    readonly_fields = ("name", "purpose", "user", "prefix", "key_hash", "created_at",
                       "last_used_at")

    def has_add_permission(self, request):
        return False


site = SuperuserAdminSite(name="admin")
site.register(User, UserAdmin)
site.register(Group, GroupAdmin)
site.register(TOTPDevice, TOTPDeviceAdmin)
site.register(ApiKey, ApiKeyAdmin)
