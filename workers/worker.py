"""The RQ worker: one process serving every queue, with the scheduler, inside the app context."""

from __future__ import annotations

import logging

from rq import SimpleWorker

from helpdesk.extensions import db
from workers.queues import QUEUES, queue, redis_connection

log = logging.getLogger(__name__)

#: Seconds without a heartbeat before a worker (and its scheduler lock) counts as dead.
#: RQ's default of 420 s would leave scheduled jobs unserved for minutes after a crash.
WORKER_TTL = 30
#: Seconds between RQ's maintenance passes (re-queueing orphaned jobs, taking the scheduler lock).
MAINTENANCE_INTERVAL = 15


class HelpdeskWorker(SimpleWorker):
    """Run jobs in-process (no fork per job) and give each a clean database session."""

    def perform_job(self, job, queue):  # noqa: D401
        try:
            return super().perform_job(job, queue)
        finally:
            db.session.remove()


def run(burst: bool = False) -> bool:
    """Serve every queue until stopped (or, with ``burst``, until they are empty)."""
    connection = redis_connection()
    worker = HelpdeskWorker(
        [queue(name) for name in QUEUES],
        connection=connection,
        worker_ttl=WORKER_TTL,
        maintenance_interval=MAINTENANCE_INTERVAL,
    )
    return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
