"""One HNSW index per face model: a partial expression index on the shared
embedding column. Models added later get theirs from
``search.index.ensure_face_index`` at ingest."""

from django.db import migrations

INDEXES = [
    ("search_face_dlib_128_hnsw", 128, "vector_l2_ops", "dlib"),
    ("search_face_insightface_512_hnsw", 512, "vector_cosine_ops", "insightface"),
]


class Migration(migrations.Migration):
    dependencies = [("search", "0002_faces")]
    operations = [
        migrations.RunSQL(
            sql=(
                f"CREATE INDEX IF NOT EXISTS {name} ON search_face USING hnsw "
                f"((embedding::vector({dimension})) {opclass}) "
                f"WITH (m = 16, ef_construction = 64) WHERE model = '{model}'"
            ),
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, dimension, opclass, model in INDEXES
    ]
