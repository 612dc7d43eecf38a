"""Django's admin, for superusers only (and with the second factor where
DPO accounts need one): DPO staff work in the dashboard, whose actions
keep the state machine and the audit trail; the admin does not."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django_otp.admin import OTPAdminAuthenticationForm
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from subjects.dpo.models import ApiKey
from subjects.dpo.permissions import requires_second_factor


class SuperuserAdminSite(admin.AdminSite):
    site_header = "Face Rights Portal administration"
    site_title = "Face Rights Portal admin"

    @property
    def login_form(self):
        return OTPAdminAuthenticationForm if requires_second_factor() else AdminAuthenticationForm

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
