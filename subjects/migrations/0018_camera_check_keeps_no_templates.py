"""The camera check keeps no face templates (issue 30).

- Bursts of finished challenges go, with the embeddings, landmarks and
  boxes that earlier versions kept in ``LivenessBurst.measures``; bursts of
  a challenge still running lose those keys (its check then ends with
  ``check_error`` and the person starts again).
- ``FrameFingerprint.face_hash``: the replay fingerprint of the aligned face.
- ``LivenessChallenge.evidence``: each rule's value against its threshold,
  for the DPO (scalars).
"""

import pgvector.django
from django.db import migrations, models

TEMPLATE_KEYS = ("embeddings", "landmarks", "box", "scene")


def forget_templates(apps, schema_editor):
    LivenessBurst = apps.get_model("subjects", "LivenessBurst")
    LivenessBurst.objects.filter(challenge__used_at__isnull=False).delete()
    for burst in LivenessBurst.objects.all():
        burst.measures = {k: v for k, v in burst.measures.items() if k not in TEMPLATE_KEYS}
        burst.save(update_fields=["measures"])


class Migration(migrations.Migration):

    dependencies = [
        ("subjects", "0017_answer_photo"),
    ]

    operations = [
        migrations.AddField(
            model_name="framefingerprint",
            name="face_hash",
            field=pgvector.django.BitField(blank=True, length=256, null=True),
        ),
        migrations.AddField(
            model_name="livenesschallenge",
            name="evidence",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(forget_templates, migrations.RunPython.noop),
    ]
