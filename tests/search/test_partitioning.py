"""The hash-partitioned face index (the Citus rehearsal) and halfvec storage."""

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from search.models import Face, Photo
from search.partitioning import ShardedFaceIndex

pytestmark = pytest.mark.django_db

DIM = 128


@pytest.fixture
def faces():
    """Five faces at known distances 0.1-0.5 from ``query`` (face ids in
    that order), and 40 others at least 1.0 away, one face per photo."""
    rng = np.random.default_rng(3)
    query = rng.standard_normal(DIM).astype(np.float32) / 16
    near = []
    for distance in (0.1, 0.2, 0.3, 0.4, 0.5):
        direction = rng.standard_normal(DIM)
        near.append(query + direction / np.linalg.norm(direction) * distance)
    far = [query + rng.standard_normal(DIM) / np.sqrt(DIM) * (1.0 + i / 10) for i in range(40)]
    rows = []
    for number, embedding in enumerate(near + far):
        photo = Photo.objects.create(
            source_url=f"https://shards.example/{number}.jpg", site="shards.example",
            scraped_at=timezone.now(), file_name=f"{number}.jpg", width=10, height=10,
            sha256=f"{number:064x}", synthetic=True,
        )
        rows.append(Face.objects.create(
            photo=photo, box_left=0, box_top=0, box_width=5, box_height=5, landmarks=[],
            detector_score=1.0, model="dlib", embedding=np.asarray(embedding, np.float32),
        ))
    return query, [face.pk for face in rows[:5]], rows


@pytest.mark.parametrize("storage", ["vector", "halfvec"])
def test_the_merged_top_k_of_the_partitions_is_the_exact_top_k(faces, storage):
    query, nearest_ids, rows = faces
    index = ShardedFaceIndex(model="dlib", partitions=3, storage=storage)
    index.create()
    assert index.refresh() == len(rows)
    assert index.refresh() == 0  # idempotent
    index.build_indexes()
    found = index.nearest(query, limit=5, threshold=float("inf"))
    assert [c.face_id for c in found] == nearest_ids
    assert [round(c.distance, 2) for c in found] == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert {c.photo_id for c in found} == {f.photo_id for f in rows[:5]}
    # Within the model's thresholds only, as find_candidates answers.
    assert [c.face_id for c in index.nearest(query, limit=5)] == nearest_ids
    sizes = index.sizes()
    assert sizes["rows"] == len(rows) and sizes["hnsw"] > 0


def test_each_partition_is_searched_through_its_own_hnsw_index(faces):
    index = ShardedFaceIndex(model="dlib", partitions=4)
    index.create()
    index.refresh()
    index.build_indexes()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass",
                       [index.table])
        assert cursor.fetchone()[0] == 4
    plan = index.nearest(faces[0], limit=5, explain=True)
    for name in index.partition_tables():
        assert f"Index Scan using {name}_hnsw" in plan, plan


def test_an_erased_face_leaves_the_partitioned_index_too(faces):
    query, nearest_ids, _ = faces
    index = ShardedFaceIndex(model="dlib", partitions=2, storage="halfvec")
    index.create()
    index.refresh()
    Face.objects.filter(pk=nearest_ids[0]).delete()
    assert nearest_ids[0] not in {c.face_id for c in index.nearest(query, limit=5)}
    assert index.sizes()["rows"] == len(faces[2]) - 1


def test_restricted_faces_are_left_out_unless_asked_for(faces):
    query, nearest_ids, _ = faces
    index = ShardedFaceIndex(model="dlib", partitions=2)
    index.create()
    index.refresh()
    Face.objects.filter(pk=nearest_ids[1]).update(restricted=True)
    assert nearest_ids[1] not in {c.face_id for c in index.nearest(query, limit=5)}
    found = index.nearest(query, limit=5, include_restricted=True)
    assert nearest_ids[1] in {c.face_id for c in found if c.restricted}


def test_a_single_halfvec_table_and_bad_options():
    single = ShardedFaceIndex(model="dlib", partitions=1, storage="halfvec")
    assert single.partition_tables() == [single.table] == ["search_face_dlib_halfvec_p1"]
    single.create()
    assert single.exists()
    single.drop()
    assert not single.exists()
    denser = ShardedFaceIndex(model="dlib", partitions=2, m=32)
    assert denser.table == "search_face_dlib_vector_p2_m32"
    with pytest.raises(ValueError):
        ShardedFaceIndex(model="dlib", storage="float8")
    with pytest.raises(ValueError):
        ShardedFaceIndex(model="dlib", partitions=0)
