from django.contrib.postgres.fields import ArrayField
from django.db import models


class RateCounter(models.Model):
    """A fixed-window counter of portal.ratelimit (when no Redis is set)."""

    key = models.CharField(max_length=80, primary_key=True)
    window_ends = models.DateTimeField(db_index=True)
    hits = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.key}: {self.hits}"


class WorkerHeartbeat(models.Model):
    """The last heartbeat a worker ran for one queue (``portal.heartbeat``,
    sent by beat every ``WORKER_HEARTBEAT_SECONDS``): proof that something
    consumes the queue, with the face model as that worker loaded it."""

    queue = models.CharField(max_length=50, primary_key=True)
    worker = models.CharField(max_length=200)
    ran_at = models.DateTimeField()
    # How long the heartbeat waited in the queue (None: sent without a time).
    waited_seconds = models.FloatField(null=True)
    face_model = models.CharField(max_length=40, blank=True)
    face_model_loaded = models.BooleanField(default=False)
    face_model_problem = models.CharField(max_length=300, blank=True)
    # Whether the model files matched their recorded SHA-256 (None: no record).
    face_model_files_match = models.BooleanField(null=True)

    def __str__(self) -> str:
        return f"{self.queue}: {self.worker} at {self.ran_at:%Y-%m-%d %H:%M:%S}"


class DurationHistogram(models.Model):
    """One histogram series of ``/metrics`` (``portal.durations``), kept in
    the database so that every web and worker process, on any machine, adds
    to the same series: the observations that fell in each bucket (not
    cumulated: one bucket per observation), their count and their sum."""

    name = models.CharField(max_length=60)
    label = models.CharField(max_length=60, blank=True)
    buckets = ArrayField(models.BigIntegerField())
    count = models.BigIntegerField(default=0)
    total = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "label"], name="one_row_per_series"),
        ]

    def __str__(self) -> str:
        return f"{self.name}{{{self.label}}}: {self.count}"
