"""The schema that works on one PostgreSQL and on a Citus coordinator alike:
duplicate photos refused by a key table, links into the face table kept by
the application, and ``distribute_face_index`` refusing a database without
Citus. (The Citus run itself is described in docs/scaling.md.)"""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from search.erasure import erase_faces_of_photo
from search.ingestion import IngestReport, ingest_image
from search.models import (
    Customer,
    CustomerSearch,
    CustomerSearchResult,
    Face,
    Photo,
    PhotoSource,
    source_key,
)
from subjects.models import Match, RightsRequest
from tests.conftest import FACES_DIR
from tests.waiting import wait_until

SITE = "distribution.example"


def ingest(name: str, report: IngestReport | None = None, url: str | None = None):
    return ingest_image((FACES_DIR / name).read_bytes(), file_name=name, site=SITE,
                        source_url=url or f"https://{SITE}/{name}", model="dlib", report=report)


@pytest.fixture
def photos_removed():
    yield
    for photo in Photo.objects.filter(site=SITE):
        photo.image.delete(save=False)
        photo.delete()


def foreign_keys_into(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT conrelid::regclass::text FROM pg_constraint"
                       " WHERE confrelid = %s::regclass AND contype = 'f'", [table])
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db
def test_the_same_photo_from_the_same_address_is_stored_once(photos_removed):
    report = IngestReport()
    photo = ingest("obama_1.jpg", report)
    assert ingest("obama_1.jpg", report) is None
    assert (report.photos, report.duplicates) == (1, 1)
    assert Photo.objects.filter(site=SITE).count() == 1
    # The refusal is the key table's primary key, not a check in Python.
    assert PhotoSource.objects.get(photo=photo).pk == source_key(photo.sha256, photo.source_url)
    with pytest.raises(Exception, match="duplicate key"), transaction.atomic():
        PhotoSource.objects.create(key=source_key(photo.sha256, photo.source_url), photo=photo)
    # The same picture from another address is another photo.
    assert ingest("obama_1.jpg", report, url=f"https://{SITE}/copy.jpg") is not None
    assert Photo.objects.filter(site=SITE).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_crawlers_storing_the_same_photo_at_once_store_it_once(photos_removed):
    first_stored, release = threading.Event(), threading.Event()
    second_report, failures = IngestReport(), []

    def first_crawler():
        try:
            # Stored but not committed until the second crawler waits for it.
            with transaction.atomic():
                ingest("obama_2.jpg")
                first_stored.set()
                release.wait(60)
        except Exception as exc:  # reported by the test below
            failures.append(exc)
        finally:
            first_stored.set()
            connection.close()

    def second_crawler():
        try:
            ingest("obama_2.jpg", second_report)
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=first_crawler)
    first.start()
    assert first_stored.wait(60)
    second = threading.Thread(target=second_crawler)
    second.start()

    def second_waits() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                           " AND query LIKE 'INSERT INTO \"search_photosource\"%%'")
            return cursor.fetchone()[0]

    try:
        wait_until(second_waits, timeout=60, interval=0.05,
                   what="the second crawler waiting for the first one's key")
    finally:
        release.set()
    first.join(60)
    second.join(60)
    assert failures == []
    assert (second_report.photos, second_report.duplicates) == (0, 1)
    assert Photo.objects.filter(site=SITE).count() == 1
    assert Face.objects.filter(photo__site=SITE).count() == 1


@pytest.mark.django_db
def test_erasure_nulls_the_links_into_the_face_table_that_the_application_keeps(
    photos_removed,
):
    # No database constraint holds these links (Citus could not keep them
    # from the coordinator): only the application does.
    assert not foreign_keys_into("search_face") & {"subjects_match",
                                                    "search_customersearchresult"}
    group, solo = ingest("group_obama_biden.jpg"), ingest("obama_4.jpg")
    erased, kept = list(group.faces.order_by("pk"))[:2]
    solo_face = solo.faces.get()
    request = RightsRequest.objects.create(email="links@example.org", state="in_progress")
    for face in (erased, kept, solo_face):
        Match.objects.create(request=request, face=face, photo_id_at_search=face.photo_id,
                             distance=0.3, tier="match")
    customer = Customer.objects.create(name="Links Test", kind="other", country="BE",
                                       account="paid")
    search = CustomerSearch.objects.create(customer=customer, searched_at=timezone.now())
    for rank, face in enumerate((erased, kept, solo_face), start=1):
        CustomerSearchResult.objects.create(search=search, face=face, distance=0.3, rank=rank)

    assert erase_faces_of_photo(group.pk, [erased.pk])["redacted"]
    assert erase_faces_of_photo(solo.pk, [solo_face.pk])["photo_deleted"]

    matches = dict(request.matches.values_list("photo_id_at_search", "face_id")
                   .filter(face_id__isnull=False))
    assert matches == {group.pk: kept.pk}
    assert request.matches.filter(face__isnull=True).count() == 2
    results = {row.rank: row for row in search.results.all()}
    assert results[1].face_id is None and results[1].face_erased_at is not None
    assert results[2].face_id == kept.pk and results[2].face_erased_at is None
    assert results[3].face_id is None and results[3].face_erased_at is not None
    # The deleted photo's duplicate key went with it; the redacted one keeps its own.
    assert list(PhotoSource.objects.filter(photo_id__in=[group.pk, solo.pk])
                .values_list("photo_id", flat=True)) == [group.pk]


@pytest.mark.django_db
def test_distributing_the_face_index_is_refused_without_citus():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                       " WHERE conrelid = 'search_face'::regclass AND contype = 'p'")
        before = cursor.fetchall()
    with pytest.raises(CommandError) as refused:
        call_command("distribute_face_index", "--shards", "4")
    assert str(refused.value) == (
        "This database has no Citus extension: the face index can only be distributed on a "
        "Citus coordinator (CREATE EXTENSION citus there first). Nothing was changed.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                       " WHERE conrelid = 'search_face'::regclass AND contype = 'p'")
        assert cursor.fetchall() == before == [("PRIMARY KEY (id)",)]
