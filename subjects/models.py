"""Data subjects' rights requests, their matches, audit trail and outbox."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pgvector.django import BitField, VectorField

from portal.ratelimit import address_identity
from subjects.core import deadlines
from subjects.core.states import BEFORE_FILING, FINAL, NEEDS_DPO, OPEN, WITHDRAWABLE, State

# Crockford's base32 without look-alikes: easy to read out on the phone.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


#: The DPO's queue lists what waits for the DPO first (0), then the rest (1).
#: The states in a fixed order: the queue's sort is then, word for word, the
#: expression of the index ``request_listed_due`` that serves it.
NEEDS_DPO_FIRST = models.Case(models.When(state__in=sorted(NEEDS_DPO), then=models.Value(0)),
                              default=models.Value(1))
#: What the DPO's queue lists unless asked for more: the open requests and
#: the identity checks (not filed yet, but waiting for the DPO).
LISTED_BY_DEFAULT = sorted(OPEN | {State.IDENTITY_REVIEW})


def new_reference() -> str:
    """``FR-XXXX-XXXX-XXXX``: 60 random bits, so references cannot be guessed."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(12))
    return f"FR-{chars[:4]}-{chars[4:8]}-{chars[8:]}"


def new_secret() -> str:
    return secrets.token_urlsafe(24)


class RightsRequest(models.Model):
    class Kind(models.TextChoices):
        ACCESS = "access", _("Access (Art. 15)")
        ERASURE = "erasure", _("Erasure (Art. 17)")
        OBJECTION = "objection", _("Objection (Art. 21)")

    reference = models.CharField(max_length=20, unique=True, default=new_reference, editable=False)
    email = models.EmailField(max_length=254, blank=True)
    # Hash of the lower-cased address: lets abuse limits and the "one open
    # request per type" rule work after the address itself was purged.
    email_hash = models.CharField(max_length=64, db_index=True, blank=True)
    language = models.CharField(max_length=8, default="en")
    state = models.CharField(max_length=20, choices=State.choices, default=State.UNVERIFIED,
                             db_index=True)
    # When the request entered its state: retention counts from here.
    state_since = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    biometric_consent_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Secrets behind the e-mailed links; changing one kills its links.
    verification_nonce = models.CharField(max_length=40, blank=True, default=new_secret)
    access_salt = models.CharField(max_length=40, default=new_secret)

    # The selfie: only its template, never the image (deleted once embedded).
    selfie_model = models.CharField(max_length=40, blank=True)
    selfie_embedding = VectorField(null=True, blank=True)
    selfie_live = models.BooleanField(default=False)
    # The selfie waiting for the search worker (deleted once embedded).
    # Every field named ``*_file`` names a private file that closing the
    # request deletes (``subjects.core.closing.PRIVATE_FILE_FIELDS``).
    selfie_pending_file = models.CharField(max_length=200, blank=True)
    # A selfie image kept privately for the DPO: an uploaded one until the DPO
    # has checked it is the requester's; one live frame of the camera check
    # until the DPO decides the filed request (or the request closes).
    selfie_review_file = models.CharField(max_length=200, blank=True)
    # A photo the person sent with their answer to the DPO's question (where
    # the DPO asked for one), re-encoded without its metadata; private.
    answer_photo_file = models.CharField(max_length=200, blank=True)
    # Hashes of the secrets in the signed cookies of the browsers that
    # confirmed the address: only those browsers open the request's pages.
    bound_browsers = models.JSONField(default=list, blank=True)
    searches_run = models.PositiveIntegerField(default=0)

    # Filing: which rights, and when the request was received (Art. 12(3)).
    access = models.BooleanField(default=False)
    erasure = models.BooleanField(default=False)
    objection = models.BooleanField(default=False)
    keep_template = models.BooleanField(
        default=False, help_text=_("Keep the face template only to block re-collection")
    )
    received_at = models.DateTimeField(null=True, blank=True, db_index=True)
    extension_months = models.PositiveSmallIntegerField(default=0)
    extension_reason = models.TextField(blank=True)
    paused_days = models.PositiveIntegerField(default=0)
    paused_since = models.DateTimeField(null=True, blank=True)
    # The due date without a pause still running (``deadlines.stored_due_date``),
    # kept by ``save``: the queue sorts and counts on it through an index.
    due_on = models.DateField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Art. 18(3): a rejected request keeps its faces restricted until then,
    # the person having been told the date first (``closing.lift_due_restrictions``).
    restriction_lifts_at = models.DateTimeField(null=True, blank=True, db_index=True)
    decision_reason = models.TextField(blank=True)
    # The ground of an extension or a rejection, as a code the transparency
    # page counts (the reasons themselves are free text for the person).
    extension_ground = models.CharField(max_length=30, blank=True)
    rejection_ground = models.CharField(max_length=30, blank=True)
    personal_data_purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "received_at"], name="request_state_received"),
                   models.Index(fields=["state", "state_since"], name="request_state_since"),
                   # The DPO's queue: open requests by due date.
                   # Counts of open requests by due date read it alone (an
                   # index-only scan): a running pause's start is in it too.
                   models.Index(fields=["due_on", "id"], name="request_open_due",
                                include=["paused_since"],
                                condition=models.Q(state__in=sorted(OPEN))),
                   # The queue's first page as the DPO opens it: what waits
                   # for the DPO first, then by due date (read in index order,
                   # never sorted whole).
                   models.Index(NEEDS_DPO_FIRST, models.F("due_on"), models.F("id"),
                                name="request_listed_due",
                                condition=models.Q(state__in=LISTED_BY_DEFAULT))]

    def __str__(self) -> str:
        return self.reference

    def save(self, *args, **kwargs):
        """Keeps ``due_on`` equal to ``deadlines.stored_due_date``."""
        self.due_on = deadlines.stored_due_date(self)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and deadlines.DUE_DATE_FIELDS & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "due_on"}
        super().save(*args, **kwargs)

    # -- derived -------------------------------------------------------------

    @property
    def kinds(self) -> list[str]:
        return [k for k in self.Kind.values if getattr(self, k)]

    def get_kinds_display(self) -> list[str]:
        return [str(label) for value, label in self.Kind.choices if getattr(self, value)]

    @property
    def is_final(self) -> bool:
        return self.state in FINAL

    @property
    def is_open(self) -> bool:
        return self.state in OPEN

    @property
    def is_filed(self) -> bool:
        return self.received_at is not None

    @property
    def needs_dpo(self) -> bool:
        return self.state in NEEDS_DPO

    @property
    def can_withdraw(self) -> bool:
        return self.state in WITHDRAWABLE

    @property
    def before_filing(self) -> bool:
        return self.state in BEFORE_FILING

    @property
    def due_date(self) -> dt.date | None:
        return deadlines.request_due_date(self)

    @property
    def first_due_date(self) -> dt.date | None:
        if self.received_at is None:
            return None
        return deadlines.due_date(timezone.localdate(self.received_at))

    @property
    def is_overdue(self) -> bool:
        due = self.due_date
        return bool(due and self.is_open and timezone.localdate() > due)

    def same_address(self) -> models.QuerySet:
        """This request and the verified ones made from exactly its address
        (in any case): what may be disclosed to the person. ``email_hash``
        (normalised: ``x+y@`` counts as ``x@``) serves only the abuse
        limits, since ``x+y@domain`` may be another person's mailbox."""
        if not self.email or self.verified_at is None:
            return RightsRequest.objects.filter(pk=self.pk)
        return RightsRequest.objects.filter(
            models.Q(pk=self.pk)
            | models.Q(email__iexact=self.email.strip(), verified_at__isnull=False))

    @staticmethod
    def hash_email(email: str) -> str:
        """Hash of the address as one person's, for the abuse limits only:
        lower case, without a ``+tag``, without dots for Gmail
        (``portal.ratelimit.address_identity``)."""
        return hashlib.sha256(address_identity(email).encode()).hexdigest()


class Match(models.Model):
    """A face of the index that the selfie search returned for a request."""

    class Tier(models.TextChoices):
        MATCH = "match", _("Match")
        POSSIBLE = "possible", _("Possible match")

    class Decision(models.TextChoices):
        UNANSWERED = "", _("Not answered")
        MINE = "mine", _("This is me")
        NOT_MINE = "not_mine", _("Not me")

    class DpoDecision(models.TextChoices):
        UNDECIDED = "", _("Not decided")
        CONFIRMED = "confirmed", _("Confirmed by the DPO")
        DECLINED = "declined", _("Not confirmed by the DPO")

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE, related_name="matches")
    # Kept by the application (no database constraint): on Citus the faces
    # are distributed and this table stays on the coordinator.
    face = models.ForeignKey("search.Face", on_delete=models.SET_NULL, null=True,
                             related_name="request_matches", db_constraint=False)
    photo_id_at_search = models.BigIntegerField()
    distance = models.FloatField()
    tier = models.CharField(max_length=10, choices=Tier.choices)
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True, default="")
    erased_at = models.DateTimeField(null=True, blank=True)
    found_at = models.DateTimeField(default=timezone.now, db_index=True)
    # A ``possible`` face the person claims counts as theirs only once the
    # DPO confirms it: before, it is neither restricted, erased nor disclosed.
    dpo_decision = models.CharField(max_length=10, choices=DpoDecision.choices, blank=True,
                                    default="")
    dpo_decided_at = models.DateTimeField(null=True, blank=True)
    dpo_decided_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["photo_id_at_search", "distance"]
        constraints = [
            models.UniqueConstraint(fields=["request", "face"], name="match_once_per_face"),
        ]

    def __str__(self) -> str:
        return f"match {self.pk} of {self.request_id}"


class AuditEvent(models.Model):
    """Append-only, hash-chained record of everything that happened to a request."""

    request = models.ForeignKey(RightsRequest, on_delete=models.PROTECT, related_name="events",
                                null=True)
    reference = models.CharField(max_length=20, db_index=True)
    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=40)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    # SHA-256 of ``reason``: the hash covers this digest, so retention can
    # blank a reason that holds personal data and the chain still verifies.
    # Empty on events written before digests existed (hashed over the reason).
    reason_digest = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.reference} {self.action} at {self.at:%Y-%m-%d %H:%M}"


class OutboundEmail(models.Model):
    """One message of one event: created in the event's transaction, sent once."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    request = models.ForeignKey(RightsRequest, on_delete=models.SET_NULL, null=True,
                                related_name="emails")
    reference = models.CharField(max_length=20, db_index=True)
    kind = models.CharField(max_length=40)
    # Makes "this event's message" unique: a retried event cannot send twice.
    event_key = models.CharField(max_length=120, unique=True)
    recipient = models.EmailField(max_length=254)
    language = models.CharField(max_length=8)
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    # At least once (subjects.jobs.delivery): due from ``due_at`` (at once,
    # or after a failed attempt's backoff); a worker claims it as ``sending``
    # until ``lease_until``, after which it is sent again.
    due_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} for {self.reference}"


class EmailAttempt(models.Model):
    """One try to hand an outbox message to the mail server: who tried, when,
    and how it ended (the SMTP reply's code and the error's kind, never an
    address). No outcome yet: in flight, or its worker died mid-send."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("Sent")
        REFUSED = "refused", _("Refused by the mail server")
        FAILED = "failed", _("Failed")
        INTERRUPTED = "interrupted", _("Interrupted")

    outbound = models.ForeignKey(OutboundEmail, on_delete=models.CASCADE,
                                 related_name="attempt_log")
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["outbound", "number"]
        constraints = [
            models.UniqueConstraint(fields=["outbound", "number"], name="one_row_per_attempt"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.outbound_id}"


class RequestJob(models.Model):
    """One job that carries out a request (an access package, an erasure),
    with the steps it has done, so that it resumes after a crash."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access package")
        ERASURE = "erasure", _("Erasure")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Access runs before erasure: the package must show what is then erased.
    order = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    steps_done = models.JSONField(default=list)
    plan = models.JSONField(default=dict)
    result = models.JSONField(default=dict)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["request", "order"]
        constraints = [
            models.UniqueConstraint(fields=["request", "kind"], name="one_job_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job of {self.request_id}"


class AccessPackage(models.Model):
    """The ZIP an access request produces, downloadable for 7 days."""

    request = models.OneToOneField(RightsRequest, on_delete=models.CASCADE,
                                   related_name="package")
    file = models.FileField(upload_to="packages/", max_length=300, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    downloads = models.PositiveIntegerField(default=0)
    purged_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"access package of {self.request_id}"

    @property
    def is_available(self) -> bool:
        return self.purged_at is None and timezone.now() < self.expires_at


class LivenessChallenge(models.Model):
    """A short random sequence of poses the person must show the camera,
    revealed one at a time. Signed, single-use, valid for a few minutes,
    bound to one request."""

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE,
                                related_name="challenges")
    poses = models.JSONField()
    nonce = models.CharField(max_length=40, default=new_secret)
    issued_at = models.DateTimeField(default=timezone.now, db_index=True)
    # How many poses have been revealed, and when the last one was.
    revealed = models.PositiveSmallIntegerField(default=0)
    revealed_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    passed = models.BooleanField(null=True)
    failure = models.CharField(max_length=40, blank=True)
    # The sentence for the person when the failure's code alone does not
    # make it (which frame, and what was wrong with it), in their language.
    failure_message = models.TextField(blank=True)
    # A burst waiting for a search worker to check it (the web process runs
    # no model): its step, its frames' stored files (deleted once checked)
    # and when it arrived (the timing rule's clock).
    checking_step = models.PositiveSmallIntegerField(null=True, blank=True)
    checking_files = models.JSONField(default=list, blank=True)
    checking_since = models.DateTimeField(null=True, blank=True)
    # What the DPO sees of a finished check: each rule's measured value
    # against its threshold and the nearest scraped face (scalars only;
    # ``camera_check.evidence``).
    evidence = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"challenge {self.pk} of {self.request_id}"


class ErasureReceipt(models.Model):
    """The signed receipt of a completed erasure or objection, kept exactly
    as issued (``portal.signatures``): e-mailed to the person and
    downloadable from their status page."""

    request = models.OneToOneField(RightsRequest, on_delete=models.CASCADE,
                                   related_name="receipt")
    key_id = models.CharField(max_length=16)
    issued_at = models.DateTimeField(default=timezone.now)
    document = models.TextField()

    def __str__(self) -> str:
        return f"receipt of {self.request_id}"


class PublishedAuditHead(models.Model):
    """The audit chain's head (its last event's position, hash and time),
    signed and published on the transparency page once a day."""

    sequence = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    head_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(default=timezone.now)
    published_on = models.DateField(unique=True)
    key_id = models.CharField(max_length=16)
    document = models.TextField()

    class Meta:
        ordering = ["-published_on"]

    def __str__(self) -> str:
        return f"audit head {self.sequence} published on {self.published_on}"


class RecipientNotice(models.Model):
    """An Art. 19 notice to one customer about one erasure, and the
    customer's confirmation that it erased or stopped using the faces."""

    class Confirmation(models.TextChoices):
        ERASED = "erased", _("We have erased the faces")
        STOPPED = "stopped_using", _("We have stopped using the faces")

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE, related_name="notices")
    customer = models.ForeignKey("search.Customer", on_delete=models.PROTECT, related_name="+")
    faces = models.PositiveIntegerField()
    notified_at = models.DateTimeField(default=timezone.now, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True, db_index=True)
    acknowledged_as = models.CharField(max_length=20, choices=Confirmation.choices, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_reminder_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["notified_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["request", "customer"], name="one_notice_per_customer"),
        ]

    def __str__(self) -> str:
        return f"Art. 19 notice {self.pk} of {self.request_id}"


class LivenessBurst(models.Model):
    """What the camera sent for one pose of a challenge: when, and the
    scalar measures the capture-wide rules need (head turns, motion, the
    chosen frame's number; never a face template, landmark or box). Its
    chosen frame is a private file; the burst and its file are deleted when
    the check ends, passed or failed."""

    challenge = models.ForeignKey(LivenessChallenge, on_delete=models.CASCADE,
                                  related_name="bursts")
    step = models.PositiveSmallIntegerField()
    pose = models.CharField(max_length=10)
    revealed_at = models.DateTimeField()
    received_at = models.DateTimeField()
    frame_file = models.CharField(max_length=200, blank=True)
    measures = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["challenge", "step"], name="one_burst_per_step"),
        ]

    def __str__(self) -> str:
        return f"burst {self.step} of challenge {self.challenge_id}"


class FrameFingerprint(models.Model):
    """A camera frame seen by a challenge, passed or not: its bytes' SHA-256
    and a 256-bit difference hash of its picture (no image), so that no
    frame is accepted twice. Kept ``PERSONAL_DATA_RETENTION_DAYS``."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    challenge = models.ForeignKey(LivenessChallenge, on_delete=models.SET_NULL, null=True,
                                  related_name="fingerprints")
    step = models.PositiveSmallIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    dhash = BitField(length=256)
    # A 256-bit difference hash of the face warped by its landmarks onto a
    # 64x64 grey square (``fingerprints.face_hash``): the same for a frame
    # shifted, rescaled, turned a little or saved again. Not a template: a
    # face cannot be rebuilt from it. Null for a frame without one face.
    face_hash = BitField(length=256, null=True, blank=True)
    accepted = models.BooleanField(null=True)

    def __str__(self) -> str:
        return f"fingerprint {self.pk}"


class StateCount(models.Model):
    """Requests per state, kept by the database itself (triggers of migration
    0013 on ``subjects_rightsrequest``): every statement that adds, removes or
    moves requests adds one row per state it changed, with the difference.
    The rows of a state add up to its count, so the dashboard reads a few
    rows, not every request; ``subjects.core.state_counts.compact`` folds
    them into one row per state. Only inserts, never an update: two
    transactions moving requests never wait for each other here."""

    state = models.CharField(max_length=20)
    n = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.state} {self.n:+d}"


class RightDecision(models.Model):
    """The DPO's decision on one right of a request (access, erasure or
    objection): approved, or refused on a ground valid for that right with
    the reason the person reads. A request asking for several rights has one
    row per right; only the approved ones are carried out."""

    class Outcome(models.TextChoices):
        APPROVED = "approved", _("Approved")
        REFUSED = "refused", _("Refused")

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE,
                                related_name="right_decisions")
    right = models.CharField(max_length=10, choices=RightsRequest.Kind.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    ground = models.CharField(max_length=30, blank=True)
    reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(default=timezone.now)
    decided_by = models.CharField(max_length=150)

    class Meta:
        ordering = ["request", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["request", "right"], name="one_decision_per_right"),
        ]

    def __str__(self) -> str:
        return f"{self.right} {self.outcome} for {self.request_id}"
