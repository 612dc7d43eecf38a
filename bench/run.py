"""``make bench``: every benchmark, one process each, then the report.

A benchmark that fails does not stop the others; the report is written
from whatever results exist, and the run exits non-zero. ``BENCH_ONLY``
(e.g. ``search,report``) runs a subset.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Order matters: search leaves the 1M faces loaded, erasure and scale reuse
# them, ingest and selfie run against the large index.
SCRIPTS = [
    ("search", "bench.search_bench"),
    ("erasure", "bench.erasure_bench"),
    ("scale", "bench.scale_bench"),
    ("ingest", "bench.ingest_bench"),
    ("selfie", "bench.selfie_bench"),
    ("queue", "bench.queue_bench"),
    ("report", "bench.report"),
]


def server_running() -> bool:
    sys.path.insert(0, str(BASE_DIR))
    from portal import embedded_db

    data_dir = Path(os.environ.get("PORTAL_DATA_DIR", BASE_DIR / "var"))
    return embedded_db.is_running(data_dir)


def main() -> int:
    only = {name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()}
    external = bool(os.environ.get("BENCH_DATABASE_URL"))
    was_running = external or server_running()
    failed = []
    started = time.perf_counter()
    for name, module in SCRIPTS:
        if only and name not in only:
            continue
        print(f"\n##### {name} ({module}) #####", flush=True)
        began = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", module], cwd=BASE_DIR)
        print(f"##### {name}: {'ok' if code == 0 else f'FAILED ({code})'} in "
              f"{time.perf_counter() - began:.0f}s #####", flush=True)
        if code != 0:
            failed.append(name)
    print(f"\nall benchmarks in {(time.perf_counter() - started) / 60:.1f} min"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    if not was_running:
        # Like `make demo` and the tests: stop the server only if we started it.
        from portal import embedded_db

        embedded_db.stop(Path(os.environ.get("PORTAL_DATA_DIR", BASE_DIR / "var")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
