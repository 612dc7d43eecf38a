from django.apps import AppConfig
from django.core import checks


class DpoConfig(AppConfig):
    name = "subjects.dpo"
    label = "dpo"
    verbose_name = "DPO dashboard and API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        checks.register(check_api_rates)


def check_api_rates(app_configs=None, **kwargs):
    """A mistyped API_RATE_* refuses to start rather than fail on first use."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from subjects.dpo.authentication import parse_rate

    errors = []
    for scope, rate in getattr(settings, "API_RATES", {}).items():
        try:
            parse_rate(rate)
        except ImproperlyConfigured as error:
            errors.append(checks.Error(str(error), hint=f"Set API_RATE_{scope.upper()}.",
                                       id="dpo.E001"))
    return errors
