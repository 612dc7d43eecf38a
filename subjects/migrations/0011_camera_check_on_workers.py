from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("subjects", "0010_outbox_attempts"),
    ]

    operations = [
        migrations.AddField(
            model_name="livenesschallenge",
            name="failure_message",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="livenesschallenge",
            name="checking_step",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="livenesschallenge",
            name="checking_files",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="livenesschallenge",
            name="checking_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
