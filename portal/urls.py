from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from portal import views
from portal.admin import site as admin_site

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on every page whatever the page links to.
    path("favicon.ico", RedirectView.as_view(url=static("portal/favicon.svg"), permanent=True)),
    path(".well-known/receipt-keys.json", views.receipt_keys, name="receipt_keys"),
    path(".well-known/receipt-keys/<str:key_id>.pem", views.receipt_key, name="receipt_key"),
    path("healthz/detail", views.healthz_detail, name="healthz-detail"),
    path("metrics", views.metrics_text, name="metrics"),
    path("dev/mail/", views.mailbox, name="mailbox"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("dpo/office/", include("subjects.office.urls")),
    path("dpo/", include("subjects.dpo.urls")),
    path("api/", include("subjects.api.urls")),
    path("admin/", admin_site.urls),
    path("", include("subjects.web.urls")),
]
