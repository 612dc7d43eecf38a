from django.urls import path

from subjects.api import views
from subjects.review import actions

ACTION_PATHS = [
    path(f"v1/requests/<str:reference>/{name.replace('_', '-')}", views.action_view(name),
         name=f"api-{name.replace('_', '-')}")
    for name in actions.LABELS
]

urlpatterns = [
    path("schema/", views.Schema.as_view(), name="api-schema"),
    path("docs/", views.Docs.as_view(), name="api-docs"),
    path("v1/requests", views.RequestList.as_view(), name="api-requests"),
    path("v1/requests/<str:reference>", views.RequestDetail.as_view(), name="api-request"),
    *ACTION_PATHS,
    path("v1/figures", views.Figures.as_view(), name="api-figures"),
    path("v1/status/<str:reference>", views.RequestStatus.as_view(), name="api-status"),
    path("v1/suppression/check", views.SuppressionCheck.as_view(), name="api-suppression-check"),
]
