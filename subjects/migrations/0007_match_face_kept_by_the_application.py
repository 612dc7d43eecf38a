"""``subjects_match.face`` loses its database constraint: it is kept by the
application, since the matches stay on the coordinator when the faces are
distributed on Citus (a table there cannot point at a distributed one)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("subjects", "0006_merge_evidence_and_retention"),
    ]

    operations = [
        migrations.AlterField(
            model_name="match",
            name="face",
            field=models.ForeignKey(db_constraint=False, null=True,
                                    on_delete=django.db.models.deletion.SET_NULL,
                                    related_name="request_matches", to="search.face"),
        ),
    ]
