from django.apps import AppConfig


class OfficeConfig(AppConfig):
    name = "subjects.office"
    label = "office"
    verbose_name = "DPO office: breaches, records, assessments"
    default_auto_field = "django.db.models.BigAutoField"
