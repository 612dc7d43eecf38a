"""The breach register (Art. 33(5)): one row per personal-data breach, with
the times that run its 72-hour clock, the notification to the supervisory
authority and the decision on telling the people affected (Art. 34); and the
dated versions of the impact assessment (Art. 35). Every change to a breach
is also an event of the audit trail (``subjects.office.breaches``)."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

#: Art. 33(1): "without undue delay and, where feasible, not later than 72
#: hours after having become aware of it".
NOTIFICATION_HOURS = 72
#: The clock's alerts to the DPO, in hours after awareness.
ALERT_HOURS = (24, 48, 68)


class Breach(models.Model):
    class Communication(models.TextChoices):
        UNDECIDED = "undecided", _("Not decided yet")
        INDIVIDUAL = "individual", _("Tell each person affected (Art. 34(1))")
        PUBLIC = "public", _("Public notice: telling each person would involve "
                             "disproportionate effort (Art. 34(3)(c))")
        NOT_REQUIRED = "not_required", _("No communication: no high risk to people, or "
                                         "Art. 34(3)(a) or (b) applies")

    reference = models.CharField(max_length=20, unique=True)
    # What happened, as the DPO writes it; may hold personal details, so it
    # never goes into the audit trail's details or a log.
    summary = models.TextField()
    occurred_at = models.DateTimeField(null=True, blank=True)
    aware_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.CharField(max_length=150)
    data_categories = models.JSONField(default=list)
    people_categories = models.JSONField(default=list)
    approx_people = models.PositiveBigIntegerField()
    approx_records = models.PositiveBigIntegerField()
    consequences = models.TextField()
    measures_taken = models.TextField()
    measures_proposed = models.TextField(blank=True)
    decided_by = models.CharField(max_length=150)

    # Art. 33: the notification to the supervisory authority.
    authority_notified_at = models.DateTimeField(null=True, blank=True)
    authority_notified_by = models.CharField(max_length=150, blank=True)
    authority_case = models.CharField(max_length=100, blank=True)
    delay_reason = models.TextField(blank=True)

    # Art. 34: telling the people affected.
    communication = models.CharField(max_length=15, choices=Communication.choices,
                                     default=Communication.UNDECIDED)
    communication_reasons = models.TextField(blank=True)
    communication_decided_at = models.DateTimeField(null=True, blank=True)
    communication_decided_by = models.CharField(max_length=150, blank=True)
    # Who is told: everyone with a request on the portal, or the requests named.
    affects_all_requesters = models.BooleanField(default=False)
    affected_references = models.JSONField(default=list, blank=True)
    people_told = models.PositiveIntegerField(default=0)
    public_notice_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-aware_at", "-pk"]

    def __str__(self) -> str:
        return self.reference

    @property
    def deadline(self) -> dt.datetime:
        return self.aware_at + dt.timedelta(hours=NOTIFICATION_HOURS)

    def hours_since_awareness(self, now: dt.datetime | None = None) -> float:
        return ((now or timezone.now()) - self.aware_at).total_seconds() / 3600

    def hours_left(self, now: dt.datetime | None = None) -> float:
        return NOTIFICATION_HOURS - self.hours_since_awareness(now)

    @property
    def clock_running(self) -> bool:
        return self.authority_notified_at is None

    def is_late(self, at: dt.datetime | None = None) -> bool:
        """Whether a notification made at ``at`` (now) comes after 72 hours."""
        return (at or timezone.now()) > self.deadline


class BreachAlert(models.Model):
    """One alert of a breach's clock: written once per hour mark, so the
    beat task that looks every few minutes alerts once."""

    breach = models.ForeignKey(Breach, on_delete=models.PROTECT, related_name="alerts")
    hour = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["breach", "hour"]
        constraints = [models.UniqueConstraint(fields=["breach", "hour"],
                                               name="one_alert_per_breach_and_hour")]

    def __str__(self) -> str:
        return f"{self.breach_id} at {self.hour} h"


class ImpactAssessment(models.Model):
    """One generated version of the impact assessment, kept as it was
    generated (the facts of that day), for the DPO to complete and sign."""

    version = models.PositiveIntegerField(unique=True)
    generated_at = models.DateTimeField(default=timezone.now)
    generated_by = models.CharField(max_length=150)
    document = models.JSONField()

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"impact assessment v{self.version}"
