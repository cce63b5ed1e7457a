"""The RQ worker: one process serving every queue, with the scheduler, inside the app context."""

from __future__ import annotations

import logging
import threading
import time

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker

from helpdesk.sla import timers
from workers.queues import QUEUES, queue, redis_connection

log = logging.getLogger(__name__)

#: Seconds without a heartbeat before a worker (and its scheduler lock) counts as dead.
#: RQ's default of 420 s would leave scheduled jobs unserved for minutes after a crash.
WORKER_TTL = 30
#: Seconds between RQ's maintenance passes (re-queueing orphaned jobs, taking the scheduler lock).
MAINTENANCE_INTERVAL = 15


def _ticker(url: str, every: int, stop: threading.Event) -> None:
    """Queue the SLA sweep once per period across all workers (a Redis SET NX per period)."""
    connection = Redis.from_url(url, socket_connect_timeout=2)
    sla = Queue("sla", connection=connection)
    wait = 0.0  # sweep at once on start: after a crash or a Redis restart, catch up first
    while not stop.wait(wait):
        period = int(time.time() // every)
        try:
            if connection.set(f"helpdesk:sweep:{every}:{period}", 1, nx=True, ex=every * 2):
                sla.enqueue("workers.sla.sweep", job_id=f"sweep-{every}-{period}", result_ttl=every * 5)
        except RedisError as exc:
            log.warning("could not queue the sweep: %s", exc)
        wait = every - time.time() % every


def run(burst: bool = False) -> bool:
    """Serve every queue until stopped (or, with ``burst``, until they are empty)."""
    connection = redis_connection()
    stop = threading.Event()
    if not burst:
        every = current_app.config["SWEEP_SECONDS"]
        threading.Thread(target=_ticker, args=(current_app.config["REDIS_URL"], every, stop), daemon=True).start()
        app = current_app._get_current_object()
        threading.Thread(target=timers.run_timer_loop, args=(app, stop), name="sla-timers", daemon=True).start()
    # SimpleWorker runs jobs in this process (no fork per job: an acknowledgement
    # costs milliseconds, not a fork). Each job pushes its own app context, and
    # so gets a fresh database session that is removed when the job ends.
    worker = SimpleWorker(
        [queue(name) for name in QUEUES],
        connection=connection,
        worker_ttl=WORKER_TTL,
        maintenance_interval=MAINTENANCE_INTERVAL,
    )
    try:
        return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    finally:
        stop.set()
