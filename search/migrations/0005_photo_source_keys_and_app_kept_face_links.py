"""Schema that works on one PostgreSQL and on a Citus coordinator alike.

- Duplicate photos are refused by ``search_photosource``'s primary key
  instead of a unique constraint on ``search_photo`` (which Citus refuses
  once photos are distributed on their id); existing photos get their keys.
- ``search_customersearchresult.face`` loses its database constraint: it is
  kept by the application, since that table stays on the coordinator.
"""

import django.db.models.deletion
from django.db import migrations, models

from search.models import source_key


def add_keys(apps, schema_editor):
    Photo = apps.get_model("search", "Photo")
    PhotoSource = apps.get_model("search", "PhotoSource")
    batch = []
    for photo_id, sha256, source_url in (
        Photo.objects.order_by("pk").values_list("pk", "sha256", "source_url").iterator(5000)
    ):
        batch.append(PhotoSource(key=source_key(sha256, source_url), photo_id=photo_id))
        if len(batch) == 5000:
            PhotoSource.objects.bulk_create(batch)
            batch = []
    PhotoSource.objects.bulk_create(batch)


class Migration(migrations.Migration):

    dependencies = [
        ("search", "0004_file_to_delete"),
    ]

    operations = [
        migrations.CreateModel(
            name="PhotoSource",
            fields=[
                ("key", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("photo", models.ForeignKey(db_constraint=False,
                                            on_delete=django.db.models.deletion.CASCADE,
                                            related_name="+", to="search.photo")),
            ],
        ),
        migrations.RunPython(add_keys, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="photo",
            name="photo_once_per_source",
        ),
        migrations.AlterField(
            model_name="customersearchresult",
            name="face",
            field=models.ForeignKey(blank=True, db_constraint=False, null=True,
                                    on_delete=django.db.models.deletion.SET_NULL,
                                    related_name="search_results", to="search.face"),
        ),
    ]
