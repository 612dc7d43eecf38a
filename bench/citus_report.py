"""The Citus section of docs/scaling.md, from ``bench/results/citus_check.json``
(``make citus-check``), ``citus_settings_cost.json`` and the earlier runs of
``citus.json``. Each figure names the commit it was measured on; a figure
measured before the search code last changed says so.

``python -m bench.citus_report`` rewrites docs/scaling.md alone (what
``make citus-check`` does after its run); ``bench/report.py`` writes it with
the rest.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.common import read_result  # noqa: E402

CITUS_RATIO_LIMIT = 3.0
#: The paths whose change makes a Citus figure one of older code.
SEARCH_CODE = ["search", "bench/citus_bench.py", "bench/citus_check.py"]


def ms(value: float) -> str:
    return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=BASE_DIR, capture_output=True, text=True,
                              timeout=20, check=False).stdout.strip()
    except OSError:
        return ""


def commit_note(commit: str | None, rerun: str = "make citus-check") -> str:
    """``commit abc123`` and, if the search code changed after it, that the
    figure is of older code (and what measures it again)."""
    if not commit:
        return "an unrecorded commit"
    short = commit[:7]
    later = _git("log", "-1", "--format=%h", f"{commit}..HEAD", "--", *SEARCH_CODE)
    if later:
        return (f"commit {short} (older code: the search code has changed since, last in "
                f"{later}; `{rerun}` measures it again)")
    return f"commit {short}"


def runs_table(runs: list[dict], commit: dict[int, str] | None = None) -> list[str]:
    rows = ["| measured (UTC) | setup | load avg. (1 min) | find_candidates limit 10: "
            "p50 / p95 ms | limit 100: p50 / p95 ms | recall@10 | one HNSW search ms (p50) | "
            "HNSW index scans |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        ten, hundred = run["find_candidates"]["limit_10"], run["find_candidates"]["limit_100"]
        setup = f"Citus, {run['shards']} shards" if run["citus"] else "one node"
        rows.append(
            f"| {run['measured_at'][:16].replace('T', ' ')} | {setup} | "
            f"{run['load_average_before'][0]:.1f} | {ms(ten['p50_ms'])} / {ms(ten['p95_ms'])} | "
            f"{ms(hundred['p50_ms'])} / {ms(hundred['p95_ms'])} | {ten['recall_at_10']:.4f} | "
            f"{ms(run['search_execution_p50_ms'])} | "
            f"{run['plan']['hnsw_index_scans']} of {run['plan']['tasks']} |")
    return rows


def pairs(runs: list[dict], shards: int = 4) -> list[dict]:
    """Each one-node run followed by a Citus run with ``shards`` shards: their
    p50 ratios."""
    found = []
    for single, citus in zip(runs, runs[1:], strict=False):
        if not single["citus"] and citus["citus"] and citus["shards"] == shards:
            found.append({key: citus["find_candidates"][key]["p50_ms"]
                          / single["find_candidates"][key]["p50_ms"]
                          for key in ("limit_10", "limit_100")}
                         | {"shard_ms": citus["search_execution_p50_ms"],
                            "single_ms": single["search_execution_p50_ms"]})
    return found


STEPS = [
    "## Running on Citus with pgvector",
    "",
    "### The operator's steps",
    "",
    "Citus is in no package registry this project installs from: it is built (or installed "
    "from Citus's own packages) on every node, beside the project, and nothing of it is in "
    "the repository. The run below used PostgreSQL 15.20 (Debian's, with "
    "`postgresql-server-dev-15`), Citus 13.2.2 and pgvector 0.8.1 built from their sources; "
    "to build Citus 13.2.2 against 15.20's headers, its compatibility header's own copy of "
    "`have_createdb_privilege` (which those headers already declare) was renamed in the "
    "build tree. No other PostgreSQL version was run with Citus.",
    "",
    "1. On every node (coordinator and workers): PostgreSQL with pgvector and Citus "
    "installed, `shared_preload_libraries = 'citus'`, the nodes able to reach each other "
    "(the run: `max_connections = 200`, `max_prepared_transactions = 200`, "
    "`shared_buffers = 512MB`, `maintenance_work_mem = 1GB`, since a shard's HNSW graph is "
    "built in memory on its worker; on the coordinator "
    "`citus.max_adaptive_executor_pool_size = 1`, see the figures).",
    "2. On every worker, by hand: `CREATE DATABASE portal;` and, in that database, "
    "`CREATE EXTENSION citus;`. Citus 13 does not create databases on the workers "
    "(`citus.enable_create_database_propagation` is off); without the database, "
    "`citus_add_node` fails with `database \"portal\" does not exist`.",
    "3. On the coordinator: `CREATE DATABASE portal;` and, connected to `portal` (node "
    "membership is per database: calls made in another database do not count for this "
    "one): `CREATE EXTENSION citus;`, `SELECT citus_set_coordinator_host('<coordinator "
    "host>', <port>);` and `SELECT citus_add_node('<worker host>', <port>);` for each "
    "worker.",
    "4. `DATABASE_URL` names the coordinator's `portal` database; `manage.py migrate` "
    "(migration 0001's `CREATE EXTENSION vector` reaches every worker).",
    "5. `manage.py distribute_face_index --shards N` (`search/distribution.py`, once, after "
    "migrate; N is fixed afterwards, see below). Before changing anything it checks what "
    "it can see and names what is missing in one sentence: no Citus extension, no workers "
    "in this database, a worker it cannot reach from this database (with what Citus says "
    "of it), a worker without the `vector` extension. Seen on the cluster of the check "
    "below, at commit 169a08e, in three databases made for it: with the coordinator's "
    "database and its `citus` extension only, \"This Citus coordinator has no workers in "
    "the database pre_a: run citus_set_coordinator_host and citus_add_node for each worker "
    "in this database (node membership is per database). Nothing was changed.\"; with "
    "both workers added but no `migrate` yet, \"The worker 127.0.0.1:55433 has no vector "
    "extension in the database pre_c: install pgvector there and run migrate on the "
    "coordinator again (it creates the extension on every worker). Nothing was "
    "changed.\"; and with that database then dropped on one worker, \"The worker "
    "127.0.0.1:55434 cannot be reached from the database pre_c (failed to connect to "
    "127.0.0.1:55434); the database must exist on every worker with the citus extension "
    "in it. Nothing was changed.\"",
    "6. `make citus-check CITUS_URL=postgresql://...` (`bench/citus_check.py`, below) on a "
    "database of the check's own, prepared as in 2-3: the check empties it first and "
    "refuses a database holding tables it did not make.",
    "",
    "What `distribute_face_index` does: it gives `search_face` the primary key `(photo_id, "
    "id)` (Citus needs every unique key of a distributed table to include the "
    "distribution column; Django still addresses a face by its id); distributes "
    "`search_photo` on `id` and `search_face` on `photo_id`, colocated with it (a photo "
    "and its faces share a shard, so the photo-to-face foreign key holds on every shard "
    "and erasing a photo touches one shard); distributes `search_photosource` (what "
    "refuses a duplicate photo) on its key; and clears the coordinator's own copy of rows "
    "that were there before. The shard count is fixed because "
    "`alter_distributed_table(..., shard_count := ...)` refuses a table with an identity "
    "column, which Django's `BigAutoField` makes. Every other table stays on the "
    "coordinator as an ordinary table: the rights requests and all that belongs to them, "
    "the customers, their searches and results, the suppression list, Django's own "
    "tables. Their links into the face table (`subjects_match.face`, "
    "`search_customersearchresult.face`) have no database constraint on either setup (a "
    "table on the coordinator cannot hold a foreign key to a distributed one); Django's "
    "`SET_NULL` nulls them in the erasure's transaction (`tests/search/"
    "test_distribution.py`).",
    "",
    "What keeps the search runnable on Citus without a cluster in the suite: "
    "`tests/search/test_citus_contract.py` records every statement the search path, the "
    "exhaustive scan, the access package and the erasure send on the embedded database "
    "and fails on what Citus cannot run or runs wrongly: several statements in one string "
    "with a face table in it or a `SET` among them (Citus keeps a propagated `SET`'s whole "
    "string and sends it again after the `BEGIN` of every worker connection, so a string "
    "`SET LOCAL ...; SELECT ... FROM search_face` makes each worker run the distributed "
    "`SELECT` itself: \"cannot execute a distributed query from a query on a shard\"), a "
    "CTE or subquery that collects the face table's rows before the `ORDER BY ... LIMIT`, "
    "a call to a function that reads a face table, and in the schema a unique key "
    "without the distribution column, a foreign key other than between colocated face "
    "tables, a trigger on a face table. Each rule is shown failing on what breaks it, "
    "the single string `SET LOCAL ...; SELECT ...` first.",
    "",
]


def check_section(check: dict | None) -> list[str]:
    out = ["### The check on a real cluster (`make citus-check`)", ""]
    if not check:
        return out + ["Not run: `make citus-check CITUS_URL=...`.", ""]
    single, citus = check["runs"]["single"], check["runs"]["citus"]
    note = commit_note(check.get("commit"))
    dirty = " with uncommitted changes" if check.get("uncommitted_changes") else ""
    request = citus["request"]
    erasure = request["jobs"].get("erasure", {}).get("result", {})
    access = request["jobs"].get("access", {}).get("result", {})
    out += [
        f"Run on {check['measured_at'][:16].replace('T', ' ')} UTC on {note}{dirty}, "
        f"**{'passed' if check['passed'] else 'failed'}**: a coordinator and two workers "
        f"on loopback on this machine (2 cores that other work shared), PostgreSQL "
        f"{citus['postgresql'].split(' ')[0]}, Citus extension {citus['citus']}, pgvector "
        f"{citus['vector']}; one node beside it: PostgreSQL "
        f"{single['postgresql'].split(' ')[0]} with pgvector {single['vector']}. Each ran "
        f"the same steps in one process (`bench/citus_check.py`, no Celery worker), and "
        f"every output was compared:",
        "",
        f"1. `migrate` on the coordinator: \"{citus['migrate'].strip()}\"; after "
        f"distributing, \"{citus.get('migrate_after', '').strip()}\". "
        f"`distribute_face_index --shards {check['shards']}` printed:",
        "",
        *["   " + ("> " + line if line else ">") for line in
          citus["distribute"][0].splitlines()],
        "",
        f"   A second run: \"{citus['distribute'][1]}\" `--shards {check['shards'] * 2}` "
        f"afterwards: \"{citus['distribute'][2].removeprefix('refused: ')}\"",
        f"2. `seed_demo`, the same on both: \"{citus['seed_demo']}\"",
        f"3. `search_face --json --largest` on each of the {check['samples']} sample "
        f"photos: "
        + ("the same faces, photos, boxes, distances and tiers on both, byte for byte."
           if all(single['search_face'][k] == citus['search_face'].get(k)
                  for k in single['search_face']) else "**different** (see the check's "
                                                        "output)."),
        "4. One person's access and erasure request (a live selfie `obama_2.jpg`, "
        "`run_selfie_search`, `file_request` for both with every match confirmed, "
        "`approve_request`, `run_request_jobs`): "
        + ("the same figures on both" if single["request"] == request
           else "**different figures**")
        + f": {request['matches'].get('match', 0)} matches, request {request['state']}; "
        f"the access package with {access.get('photos')} photos and "
        f"{access.get('recipients')} recipients; {erasure.get('faces_erased')} faces "
        f"erased, {erasure.get('photos_deleted')} photos deleted and "
        f"{erasure.get('photos_redacted')} redacted, final check "
        f"{erasure.get('final_check')}, {request['left_by_exhaustive_search']} of the "
        f"person's faces left by an exhaustive search afterwards, "
        f"{erasure.get('recipients_notified')} customers notified, "
        f"{request['matches_without_face']} matches and "
        f"{request['search_results_without_face']} customer search results left without "
        f"their face, {request['photos_left']:,} photos left, "
        f"{request['photos_with_duplicate_key']:,} of them with their duplicate key.",
    ]
    for line in check.get("differences", []):
        out.append(f"   - different: {line}")
    timed = [run["find_candidates"] for run in (single, citus) if "find_candidates" in run]
    if len(timed) == 2:
        one, cluster = timed
        ratio = (cluster["find_candidates"]["limit_10"]["p50_ms"]
                 / one["find_candidates"]["limit_10"]["p50_ms"])
        out += [
            f"5. `find_candidates` at {one['size']:,} synthetic faces "
            f"(`bench.citus_bench.measure`, {one['queries']} queries, one node first, then "
            f"the cluster with {cluster['shards']} shards); \"one HNSW search\" is the "
            f"execution time the server running it reports, on Citus one shard's on its "
            f"worker:",
            "",
            *["   " + row for row in runs_table([one, cluster])],
            "",
            f"   Citus over one node, p50 with limit 10: {ratio:.1f}x (target "
            f"{CITUS_RATIO_LIMIT:.0f}x: " + ("met" if ratio <= CITUS_RATIO_LIMIT
                                             else "not met here") + "). The two workers, "
            "the coordinator and the client share 2 cores here, so the shards are not "
            "searched side by side.",
        ]
    return out + [""]


def cost_section(cost: dict | None) -> list[str]:
    out = ["### What sending the settings apart costs on one node", ""]
    if not cost:
        return out + ["Not measured: `python -m bench.citus_settings_cost`.", ""]
    ways = cost["ways"]
    over = cost["p50_over_single_string_ms"]
    machine = cost["machine"]
    out += [
        f"`bench/citus_settings_cost.py` on "
        f"{commit_note(machine.get('git_commit'), 'python -m bench.citus_settings_cost')}, "
        f"{cost['measured_at'][:16].replace('T', ' ')} UTC, PostgreSQL "
        f"{machine.get('postgresql', '?').split(' ')[0]} with pgvector "
        f"{machine.get('pgvector')} (one node), {cost['size']:,} faces, "
        f"{cost['queries']} queries, each way {cost['rounds']} times over them, limit "
        f"{cost['limit']}, the ways interleaved on one connection (load average "
        f"{cost['load_average_before'][0]:.1f} before); every way found the same faces: "
        f"{'yes' if cost['same_answers'] else 'no'}.",
        "",
        "| way | p50 ms | p95 ms | p50 over the single string ms |",
        "|---|---:|---:|---:|",
    ]
    names = {"single_string": "the single string `SET LOCAL ...; SELECT ...` (before; "
                              "Citus cannot run it)",
             "round_trips": "settings (one string), then query, in one transaction, each "
                            "waited for: four round trips",
             "pipeline": "the same statements one by one in pipeline mode, one round trip "
                         "(shipped)",
             "connection": "settings carried by the connection, the query alone"}
    for name, summary in ways.items():
        out.append(f"| {names.get(name, name)} | {ms(summary['p50_ms'])} | "
                   f"{ms(summary['p95_ms'])} | {over[name]:+.3f} |")
    out += [
        "",
        f"Shipped: `BEGIN`, each `SET LOCAL`, the query and `COMMIT` as separate "
        f"statements sent in one round trip by the driver's pipeline mode "
        f"(`search.matching._settings_then_query`), {over['pipeline']:+.3f} ms p50 per "
        f"search here. Waiting for each statement (four round trips) cost "
        f"{over['round_trips']:+.3f} ms at the same load. Settings carried by the "
        f"connection cost "
        f"{over['connection']:+.3f} ms and are not shipped: `enable_seqscan = off` and the "
        f"others would hold for every other statement on the connection, and Citus sends "
        f"only `SET LOCAL`s on to the workers.",
        "",
    ]
    return out


def earlier_section(result: dict | None) -> list[str]:
    if not result:
        return []
    runs = result["runs"]
    commit = (result.get("machine") or {}).get("git_commit")
    out = [
        "### Earlier runs",
        "",
        f"Measured on 2026-11-30 on {commit_note(commit)}, with `bench/citus_bench.py` and "
        f"the same kind of cluster, when `find_candidates` sent its settings and its query "
        f"as separate statements; not repeated since, except by the check above. "
        f"{runs[0]['size']:,} synthetic faces, {runs[0]['queries']} queries per run; a "
        f"one-node run and a Citus run taken one after the other make a pair.",
        "",
        *runs_table(runs),
    ]
    found = pairs(runs)
    if found:
        out += [
            "",
            "Citus over one node, pair by pair (p50, limit 10): "
            + ", ".join(f"{p['limit_10']:.1f}x" for p in found)
            + "; limit 100: " + ", ".join(f"{p['limit_100']:.1f}x" for p in found) + ".",
        ]
    out += [
        "",
        f"From the same commit ({(commit or '?')[:7]}), by a script outside the repository "
        f"on the same 200,000 faces: with Citus's default executor pool (a second "
        f"connection to a worker for its second shard, opened anew for every search since "
        f"Citus keeps one connection per worker between transactions) `find_candidates` "
        f"took 41-62 ms p50, and 30-39 ms with "
        f"`citus.max_adaptive_executor_pool_size = 1` or 4 connections kept per worker.",
        "",
        "Before that (issue 21; the query in a materialized CTE, its settings by "
        "`set_config`, which stays on the coordinator): at 200,000 faces `find_candidates` "
        "took 197 ms p50 with 32 shards and 75 ms with 4 (one node 5 ms), because the CTE "
        "first collected rows on the coordinator.",
        "",
    ]
    return out


NOT_RUN = [
    "Not run: workers on machines (or cores) of their own; more than 200,000 faces on "
    "Citus; adding or removing workers, moving or splitting shards, a worker failing; "
    "the web server and Celery workers against the cluster (the jobs ran in one process "
    "with the functions the tasks call); the insightface model and `halfvec` storage on "
    "Citus; PostgreSQL other than 15 with Citus.",
    "",
]


def citus_section(earlier: dict | None) -> list[str]:
    """The Citus section of docs/scaling.md; ``earlier``: ``citus.json``."""
    return (STEPS + check_section(read_result("citus_check"))
            + cost_section(read_result("citus_settings_cost")) + earlier_section(earlier)
            + NOT_RUN)


def write_scaling_md() -> Path:
    """docs/scaling.md written again from the results (bench/report.py's)."""
    from bench import report

    path = report.DOCS / "scaling.md"
    path.write_text(report.scaling_md({name: read_result(name) for name in report.RESULTS}),
                    encoding="utf-8")
    print(f"wrote {path.relative_to(BASE_DIR)}")
    return path


if __name__ == "__main__":
    write_scaling_md()
