from django.urls import path

from subjects.dpo import actions, api

ACTION_PATHS = [
    path(f"v1/requests/<str:reference>/{name.replace('_', '-')}", api.action_view(name),
         name=f"api-{name.replace('_', '-')}")
    for name in actions.LABELS
]

urlpatterns = [
    path("schema/", api.Schema.as_view(), name="api-schema"),
    path("docs/", api.Docs.as_view(), name="api-docs"),
    path("v1/requests", api.RequestList.as_view(), name="api-requests"),
    path("v1/requests/<str:reference>", api.RequestDetail.as_view(), name="api-request"),
    *ACTION_PATHS,
    path("v1/figures", api.Figures.as_view(), name="api-figures"),
    path("v1/status/<str:reference>", api.RequestStatus.as_view(), name="api-status"),
    path("v1/suppression/check", api.SuppressionCheck.as_view(), name="api-suppression-check"),
]
