"""API keys get a scope; keys made before keep what they could do (act),
crawler keys made before get an expiry; DPO accounts stop being staff of
Django's admin (the admin is for superusers; the DPO area checks the group)."""

import datetime as dt

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def forwards(apps, schema_editor):
    ApiKey = apps.get_model("dpo", "ApiKey")
    ApiKey.objects.filter(purpose="dpo").update(scope="act")
    ApiKey.objects.filter(purpose="crawler", expires_at__isnull=True).update(
        expires_at=timezone.now() + dt.timedelta(days=settings.CRAWLER_API_KEY_DAYS))
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    User.objects.filter(groups__name=settings.DPO_GROUP_NAME, is_superuser=False,
                        is_staff=True).update(is_staff=False)


class Migration(migrations.Migration):

    dependencies = [
        ("dpo", "0002_key_expiry"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scope",
            field=models.CharField(choices=[("read", "Read only"), ("act", "Read and act")],
                                   default="read", max_length=4),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
