"""The stored due date of a request (``RightsRequest.due_on``), filled from
the same rule in SQL (``deadlines.StoredDueOn``), and the partial index the
DPO's queue reads: open requests by due date."""

from django.db import migrations, models

from subjects.core.deadlines import StoredDueOn
from subjects.core.states import OPEN


def fill_due_dates(apps, schema_editor):
    RightsRequest = apps.get_model("subjects", "RightsRequest")
    RightsRequest.objects.filter(received_at__isnull=False).update(due_on=StoredDueOn())


class Migration(migrations.Migration):

    dependencies = [
        ("subjects", "0008_own_face_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="rightsrequest",
            name="due_on",
            field=models.DateField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(fill_due_dates, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="rightsrequest",
            index=models.Index(condition=models.Q(("state__in", sorted(OPEN))),
                               fields=["due_on", "id"], include=["paused_since"],
                               name="request_open_due"),
        ),
    ]
