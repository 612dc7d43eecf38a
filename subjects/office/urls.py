from django.urls import path

from subjects.office import views

app_name = "office"

urlpatterns = [
    path("breaches/", views.breach_register, name="breaches"),
    path("breaches/register.csv", views.register_csv, name="breach_register_csv"),
    path("breaches/register.json", views.register_json, name="breach_register_json"),
    path("breaches/<str:reference>/", views.breach_detail, name="breach"),
    path("breaches/<str:reference>/update/", views.update_breach, name="update_breach"),
    path("breaches/<str:reference>/notify/", views.notify_authority, name="notify_authority"),
    path("breaches/<str:reference>/decide/", views.decide_communication,
         name="decide_communication"),
    path("breaches/<str:reference>/notification.txt", views.notification_text,
         name="notification_text"),
    path("breaches/<str:reference>/notification.json", views.notification_json,
         name="notification_json"),
    path("processing/", views.processing_record, name="processing"),
    path("processing.json", views.processing_json, name="processing_json"),
    path("processing.csv", views.processing_csv, name="processing_csv"),
    path("impact/", views.impact_assessments, name="impact_list"),
    path("impact/<int:version>/", views.impact_assessment, name="impact"),
    path("impact/<int:version>.json", views.impact_assessment_json, name="impact_json"),
    path("inspection/", views.inspection_export, name="inspection"),
]
