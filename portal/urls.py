from django.urls import include, path

from portal import views
from portal.admin import site as admin_site

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path(".well-known/receipt-keys.json", views.receipt_keys, name="receipt_keys"),
    path(".well-known/receipt-keys/<str:key_id>.pem", views.receipt_key, name="receipt_key"),
    path("healthz/detail", views.healthz_detail, name="healthz-detail"),
    path("dev/mail/", views.mailbox, name="mailbox"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("dpo/", include("subjects.dpo.urls")),
    path("api/", include("subjects.api.urls")),
    path("admin/", admin_site.urls),
    path("", include("subjects.web.urls")),
]
