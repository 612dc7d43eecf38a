import pytest
from django.db import connection


@pytest.mark.django_db
def test_a_nearest_neighbour_query_runs_on_the_real_database():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE points (label text, v vector(3))")
        cursor.execute(
            "INSERT INTO points VALUES ('origin', '[0,0,0]'), ('near', '[1,1,0]'), "
            "('far', '[9,9,9]')"
        )
        cursor.execute(
            "SELECT label, v <-> '[1,1,1]' FROM points ORDER BY v <-> '[1,1,1]' LIMIT 2"
        )
        rows = cursor.fetchall()
    assert [label for label, _ in rows] == ["near", "origin"]
    assert rows[0][1] == pytest.approx(1.0)
