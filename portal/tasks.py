from celery import shared_task

from portal.health import database_status


@shared_task(name="portal.ping")
def ping() -> dict:
    """Answer from a worker, with the database it sees: proves the whole
    path (broker, worker, database, result backend) end to end."""
    return {"pong": True, "database": database_status()}
