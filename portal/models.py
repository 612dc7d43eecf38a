from django.db import models


class RateCounter(models.Model):
    """A fixed-window counter of portal.ratelimit (when no Redis is set)."""

    key = models.CharField(max_length=80, primary_key=True)
    window_ends = models.DateTimeField(db_index=True)
    hits = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.key}: {self.hits}"
