"""``distribute_face_index`` says in one sentence what a Citus coordinator
lacks, from what Citus itself answers (``citus_get_active_worker_nodes()``
and ``run_command_on_workers``, as their rows come back). A real cluster
runs it in ``make citus-check``; docs/scaling.md has that run."""

from search.distribution import worker_problem

WORKERS = [("127.0.0.1", 55433), ("127.0.0.1", 55434)]
REACHED = [("127.0.0.1", 55433, True, "1"), ("127.0.0.1", 55434, True, "1")]
VECTOR = [("127.0.0.1", 55433, True, "0.8.1"), ("127.0.0.1", 55434, True, "0.8.1")]


def one_sentence(text: str) -> bool:
    return text.endswith(". Nothing was changed.") and text.count(". ") == 1


def test_a_cluster_with_reachable_workers_holding_pgvector_has_no_problem():
    assert worker_problem(WORKERS, REACHED, VECTOR, "portal") is None


def test_no_workers_in_this_database_is_said_with_where_to_add_them():
    problem = worker_problem([], [], [], "portal")
    assert problem == (
        "This Citus coordinator has no workers in the database portal: run "
        "citus_set_coordinator_host and citus_add_node for each worker in this database "
        "(node membership is per database). Nothing was changed.")
    assert one_sentence(problem)


def test_a_worker_that_cannot_be_reached_is_named_with_the_reason():
    # What run_command_on_workers answered on a cluster (docs/scaling.md)
    # once the database was dropped on one worker.
    reached = [REACHED[0], ("127.0.0.1", 55434, False, "failed to connect to 127.0.0.1:55434")]
    problem = worker_problem(WORKERS, reached, VECTOR, "portal")
    assert problem == (
        "The worker 127.0.0.1:55434 cannot be reached from the database portal (failed to "
        "connect to 127.0.0.1:55434); the database must exist on every worker with the citus "
        "extension in it. Nothing was changed.")
    assert one_sentence(problem)


def test_a_worker_without_pgvector_is_named():
    # No row: the extension is not in that worker's database.
    vector = [VECTOR[0], ("127.0.0.1", 55434, True, "")]
    problem = worker_problem(WORKERS, REACHED, vector, "portal")
    assert problem.startswith("The worker 127.0.0.1:55434 has no vector extension in the "
                              "database portal")
    assert one_sentence(problem)
