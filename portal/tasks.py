from celery import shared_task
from celery.signals import worker_init, worker_ready

from portal import health


@shared_task(name="portal.ping")
def ping() -> dict:
    """Answer from a worker, with the database it sees: proves the whole
    path (broker, worker, database, result backend) end to end."""
    return {"pong": True, "database": health.database_status()}


@shared_task(name="portal.heartbeat", bind=True, ignore_result=True)
def heartbeat(self, queue: str) -> None:
    """Sent by beat to every queue; the worker that runs it proves the queue
    is served (see portal/health.py)."""
    health.record_heartbeat(queue, worker=self.request.hostname or "",
                            sent_at=getattr(self.request, "sent_at", None))


@worker_init.connect
def load_face_model_at_start(**kwargs) -> None:
    # In the worker's main process, before its pool forks: the children
    # inherit the loaded weights, and a missing model shows at once.
    health.load_face_model()


@worker_ready.connect
def first_heartbeats(**kwargs) -> None:
    # Health is known at once, not only after beat's first interval.
    health.send_heartbeats()
