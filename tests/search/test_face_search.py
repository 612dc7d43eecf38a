"""Searching the labelled photos: each face finds exactly its own person."""

import json

import pytest
import sqlparse
from django.db import connection
from sqlparse import tokens

from search.backends import get_backend
from search.calibration import label_of, read_labels
from search.matching import (
    Tier,
    explain_candidates,
    find_all_candidates,
    find_candidates,
    nearest_faces_sql,
)
from search.models import Face
from tests.conftest import FACES_DIR

pytestmark = pytest.mark.django_db


@pytest.fixture
def identities(labelled_index):
    """Face id -> identity, for every stored face of the labelled set."""
    labels = read_labels(FACES_DIR / "labels.csv")
    faces = Face.objects.filter(photo__site="labelled.example", model="dlib")
    faces = faces.select_related("photo")
    result = {}
    for face in faces:
        center = (face.box_left + face.box_width / 2, face.box_top + face.box_height / 2)
        label = label_of(center, [x for x in labels if x["file"] == face.photo.file_name])
        assert label is not None, f"unlabelled face in {face.photo.file_name}"
        result[face.pk] = label["identity"]
    assert len(result) == 32
    return result


def test_each_labelled_face_matches_exactly_its_own_person_and_nobody_else(identities):
    faces = Face.objects.in_bulk(list(identities))
    for face_id, identity in identities.items():
        candidates = find_candidates(faces[face_id].embedding, model="dlib")
        matched = {c.face_id for c in candidates if c.tier == Tier.MATCH}
        expected = {fid for fid, who in identities.items() if who == identity}
        assert matched == expected, (faces[face_id].photo.file_name, identity)
        # Not even the looser "possible" tier holds a stranger.
        assert {identities[c.face_id] for c in candidates} == {identity}


def test_the_exhaustive_scan_agrees_with_the_index_on_the_labelled_set(identities):
    faces = Face.objects.in_bulk(list(identities))
    for face_id in identities:
        approximate = {c.face_id for c in find_candidates(faces[face_id].embedding)}
        exact = {c.face_id for c in find_all_candidates(faces[face_id].embedding)}
        assert approximate == exact


def test_restricted_faces_are_left_out_unless_asked_for(identities):
    obama = [fid for fid, who in identities.items() if who == "obama"]
    Face.objects.filter(pk=obama[0]).update(restricted=True)
    query = Face.objects.get(pk=obama[1]).embedding
    assert obama[0] not in {c.face_id for c in find_candidates(query)}
    assert obama[0] in {c.face_id for c in find_candidates(query, include_restricted=True)}


def test_the_search_uses_the_models_hnsw_index(identities):
    query = Face.objects.get(pk=next(iter(identities))).embedding
    plan = explain_candidates(query, model="dlib")
    assert "Index Scan using search_face_dlib_128_hnsw" in plan, plan
    # The index is the one migration 0006 rebuilt: half precision, m 32.
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                       ["search_face_dlib_128_hnsw"])
        [definition] = cursor.fetchone()
    assert "halfvec(128)) halfvec_l2_ops" in definition and "m='32'" in definition, definition
    # Its settings were sent with the query, not left on the connection.
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "on"
    exhaustive_plan = explain_candidates(query, model="dlib", include_restricted=True)
    assert "search_face_dlib_128_hnsw" in exhaustive_plan


def test_the_search_is_one_order_by_limit_over_the_face_table(identities):
    """The shape Citus sends whole to every shard (each answers its own top
    k from its own index) and merges on the coordinator: one SELECT over the
    face table ending in ORDER BY distance LIMIT k, with no CTE or subquery
    that would make it collect every shard's rows first."""
    sql = nearest_faces_sql(get_backend("dlib"), include_restricted=False)
    [statement] = sqlparse.parse(sql)
    words = [t.normalized for t in statement.flatten()
             if t.ttype in tokens.Keyword or t.ttype in tokens.Keyword.DML
             or t.ttype in tokens.Keyword.CTE]
    assert words.count("SELECT") == 1 and "WITH" not in words and "MATERIALIZED" not in words
    assert [w for w in words if w in ("FROM", "ORDER BY", "LIMIT")] == ["FROM", "ORDER BY",
                                                                        "LIMIT"]
    assert " FROM search_face f WHERE " in sql and sql.endswith(" LIMIT %(limit)s")
    # And PostgreSQL runs it as that: a Limit right over the index scan.
    query = Face.objects.get(pk=next(iter(identities))).embedding
    [root] = json.loads(explain_candidates(query, model="dlib", options="(FORMAT JSON)"))
    limit = root["Plan"]
    assert limit["Node Type"] == "Limit"
    [scan] = limit["Plans"]
    assert (scan["Node Type"], scan["Index Name"]) == ("Index Scan", "search_face_dlib_128_hnsw")
    assert "Plans" not in scan
