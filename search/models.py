"""The scraped face database: photos, their faces, the customers who search
it, what their searches returned, and the suppression list."""

from __future__ import annotations

import hashlib
import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _
from pgvector.django import VectorField


def photo_upload_to(photo: Photo, filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "jpg"
    return f"photos/{photo.sha256[:2]}/{photo.sha256[:16]}-{uuid.uuid4().hex[:8]}.{extension}"


class Photo(models.Model):
    """One scraped image. The same picture scraped from two sites is two photos."""

    source_url = models.URLField(max_length=2000)
    page_url = models.URLField(max_length=2000, blank=True)
    site = models.CharField(max_length=200, db_index=True)
    scraped_at = models.DateTimeField()
    image = models.FileField(upload_to=photo_upload_to, max_length=300)
    file_name = models.CharField(max_length=255, help_text=_("Name of the ingested file"))
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    # Filler rows that give the demo index a realistic size; they have no image.
    synthetic = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"photo {self.pk} from {self.site}"


def source_key(sha256: str, source_url: str) -> str:
    """The key of one scraped content at one address (:class:`PhotoSource`)."""
    return hashlib.sha256(f"{sha256}\n{source_url}".encode()).hexdigest()


class PhotoSource(models.Model):
    """What refuses a duplicate photo: one row per scraped content (its
    SHA-256 when it was scraped) and source URL, keyed by
    :func:`source_key`.

    A table of its own rather than a unique constraint on ``search_photo``:
    on Citus that table is distributed on the photo id, and a unique
    constraint there must include the id, which would make it meaningless.
    This table is distributed on its own key, so its primary key refuses a
    duplicate whatever the number of shards (``search/citus.py``). The link
    to the photo is kept by the application (deleting a photo deletes its
    key), since the two tables are hashed on different columns."""

    key = models.CharField(max_length=64, primary_key=True)
    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, db_constraint=False,
                              related_name="+")

    def __str__(self) -> str:
        return f"source of photo {self.photo_id}"

    @classmethod
    def of(cls, photo: Photo) -> PhotoSource:
        return cls(key=source_key(photo.sha256, photo.source_url), photo=photo)


class Face(models.Model):
    """One detected face of a photo, embedded by one model.

    The embedding column has no fixed dimension: each model's vectors are
    indexed by their own partial HNSW index (see ``search/index.py``).
    """

    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="faces")
    box_left = models.IntegerField()
    box_top = models.IntegerField()
    box_width = models.PositiveIntegerField()
    box_height = models.PositiveIntegerField()
    landmarks = models.JSONField()
    detector_score = models.FloatField()
    model = models.CharField(max_length=40)
    embedding = VectorField()
    # Left out of customer searches while a rights request about it is open.
    restricted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["model", "photo"], name="face_model_photo")]

    def __str__(self) -> str:
        return f"face {self.pk} ({self.model}) of photo {self.photo_id}"

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.box_left, self.box_top, self.box_width, self.box_height)


class Customer(models.Model):
    class Kind(models.TextChoices):
        LAW_ENFORCEMENT = "law_enforcement", _("Law enforcement")
        RETAIL = "retail", _("Retailer")
        BANK = "bank", _("Bank")
        OTHER = "other", _("Other")

    class Account(models.TextChoices):
        TRIAL = "trial", _("Trial account")
        PAID = "paid", _("Paid account")

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    country = models.CharField(max_length=2, help_text=_("ISO 3166-1 alpha-2 code"))
    account = models.CharField(max_length=10, choices=Account.choices)
    trial_start = models.DateField(null=True, blank=True)
    trial_end = models.DateField(null=True, blank=True)
    # Where the Art. 19 notice of an erasure goes.
    contact_email = models.EmailField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(trial_end__isnull=True)
                | models.Q(trial_start__isnull=False, trial_end__gte=models.F("trial_start")),
                name="customer_trial_ends_after_it_starts",
            )
        ]

    def __str__(self) -> str:
        return self.name


class CustomerSearch(models.Model):
    """One search a customer ran, and the faces it returned."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="searches")
    searched_at = models.DateTimeField(db_index=True)
    faces = models.ManyToManyField(Face, through="CustomerSearchResult", related_name="+")

    def __str__(self) -> str:
        return f"search {self.pk} by {self.customer}"


class CustomerSearchResult(models.Model):
    """A face a customer search returned. After an erasure the record stays
    (it is the controller's evidence of the disclosure) without the face."""

    search = models.ForeignKey(CustomerSearch, on_delete=models.CASCADE, related_name="results")
    # Kept by the application, not the database: on Citus the faces are
    # distributed and this table stays on the coordinator, which cannot hold
    # a foreign key to them. Deleting a face nulls it (Django's SET_NULL).
    face = models.ForeignKey(
        Face, on_delete=models.SET_NULL, null=True, blank=True, related_name="search_results",
        db_constraint=False,
    )
    distance = models.FloatField()
    rank = models.PositiveIntegerField()
    face_erased_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"result {self.rank} of search {self.search_id}"


class Suppression(models.Model):
    """A face template kept, with the person's consent, only so that the
    crawler does not collect their face again."""

    class Reason(models.TextChoices):
        ERASURE = "erasure", _("Erasure")
        OBJECTION = "objection", _("Objection")

    model = models.CharField(max_length=40)
    embedding = VectorField()
    created_at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    request_reference = models.CharField(max_length=40, db_index=True)

    def __str__(self) -> str:
        return f"suppression {self.pk} ({self.model}, {self.reason})"


class FileToDelete(models.Model):
    """A stored file whose row is gone and whose bytes must go too.

    Written in the same transaction that deletes or redacts a photo, and
    removed once the file is gone, so a crash between the database and the
    disk never leaves a person's face behind."""

    name = models.CharField(max_length=300, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name
