"""The RQ worker: one process serving every queue, with the scheduler, inside the app context."""

from __future__ import annotations

import logging

from rq import SimpleWorker

from workers.queues import QUEUES, queue, redis_connection

log = logging.getLogger(__name__)

#: Seconds without a heartbeat before a worker (and its scheduler lock) counts as dead.
#: RQ's default of 420 s would leave scheduled jobs unserved for minutes after a crash.
WORKER_TTL = 30
#: Seconds between RQ's maintenance passes (re-queueing orphaned jobs, taking the scheduler lock).
MAINTENANCE_INTERVAL = 15


def run(burst: bool = False) -> bool:
    """Serve every queue until stopped (or, with ``burst``, until they are empty)."""
    connection = redis_connection()
    # SimpleWorker runs jobs in this process (no fork per job: an acknowledgement
    # costs milliseconds, not a fork). Each job pushes its own app context, and
    # so gets a fresh database session that is removed when the job ends.
    worker = SimpleWorker(
        [queue(name) for name in QUEUES],
        connection=connection,
        worker_ttl=WORKER_TTL,
        maintenance_interval=MAINTENANCE_INTERVAL,
    )
    return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
