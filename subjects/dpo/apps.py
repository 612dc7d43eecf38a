from django.apps import AppConfig


class DpoConfig(AppConfig):
    name = "subjects.dpo"
    label = "dpo"
    verbose_name = "DPO dashboard"
    default_auto_field = "django.db.models.BigAutoField"
