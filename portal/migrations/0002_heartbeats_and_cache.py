from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations, models

CACHE_TABLE = "portal_cache"


def create_cache_table(apps, schema_editor):
    # The shared cache when CACHE_URL is unset (portal/settings.py); made here
    # whatever CACHES says, so dropping Redis later needs no extra step.
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {CACHE_TABLE}")


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_rate_counters")]

    operations = [
        migrations.CreateModel(
            name="WorkerHeartbeat",
            fields=[
                ("queue", models.CharField(max_length=50, primary_key=True, serialize=False)),
                ("worker", models.CharField(max_length=200)),
                ("ran_at", models.DateTimeField()),
                ("waited_seconds", models.FloatField(null=True)),
                ("face_model", models.CharField(blank=True, max_length=40)),
                ("face_model_loaded", models.BooleanField(default=False)),
                ("face_model_problem", models.CharField(blank=True, max_length=300)),
                ("face_model_files_match", models.BooleanField(null=True)),
            ],
        ),
        migrations.RunPython(create_cache_table, drop_cache_table),
    ]
