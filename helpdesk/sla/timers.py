"""Fire SLA warnings and breaches on time, however many clocks are running.

Two mechanisms, both reading the clocks from the database and both harmless
to repeat (a breach is claimed with a conditional UPDATE):

- each worker process runs a timer loop (``run_timer_loop``) that sleeps
  until the earliest warning or due time, never more than a second, and then
  handles every clock that has come due, in one pass. This is what makes
  breaches punctual (measured lateness in docs/benchmarks.md);
- after the commit that sets a due time, ``schedule_many`` queues an RQ job at that
  second (one job per second, whatever the number of clocks due in it), which
  does the same pass. The per-minute sweep is the last net under both.

One job or one loop iteration per due second, instead of one job per clock,
is what lets ten thousand clocks coming due together be breached within a
second: a batch pass costs a query plus the breaches themselves.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from redis.exceptions import RedisError

from workers.queues import enqueue

log = logging.getLogger(__name__)

#: The timer loop looks for new, earlier clocks at least this often (seconds).
MAX_SLEEP = 1.0
#: ... and no more often than this: clocks coming due a few milliseconds apart share
#: a pass instead of paying a pass each (at most this much later; the goal is 1.5 s).
MIN_SLEEP = 0.05
#: One worker's timer loop leads; the others stand by and take over within this many seconds.
LEADER_KEY = "helpdesk:sla-timer-leader"
#: Clocks claimed per transaction; a pass with more due commits in several.
PASS_LIMIT = 500
LEADER_TTL = 5


def _lead(connection, me: str) -> bool:
    """Take or keep the timer leadership; without Redis, run anyway (claims keep breaches exactly-once)."""
    try:
        if connection.set(LEADER_KEY, me, nx=True, ex=LEADER_TTL):
            return True
        if connection.get(LEADER_KEY) == me.encode():
            connection.expire(LEADER_KEY, LEADER_TTL)
            return True
        return False
    except RedisError:
        return True


def leader_alive() -> bool:
    """Say whether some worker's timer loop is running now (so a due-time job can stand aside)."""
    from workers.queues import redis_connection

    try:
        return bool(redis_connection().exists(LEADER_KEY))
    except RedisError:
        return False


def schedule_many(times: list[tuple[datetime | None, datetime | None]]) -> None:
    """Queue the batch checks of clocks' (due, warning) times, one job per second, in one Redis round trip.

    Runs after the commit that set the times; each job runs once its second
    has passed (``not_before``), never early.
    """
    from workers.queues import not_before, redis_connection

    seconds = sorted({not_before(when) for pair in times for when in pair if when is not None})
    if not seconds:
        return
    try:
        pipeline = redis_connection().pipeline()
        for second in seconds:
            enqueue("workers.sla.check_due", queue_name="sla", job_id=f"sla-due-{int(second.timestamp())}",
                    at=second, pipeline=pipeline)
        pipeline.execute()
    except RedisError:
        log.warning("could not schedule the SLA checks of %d clocks; the timer loop and sweep cover them", len(times))


def handle_due(now: datetime | None = None) -> dict[str, int]:
    """Warn and breach every clock whose time has come, in one transaction; return the counts.

    One set-based pass and one commit (``clocks.check_due``): a commit and a
    handful of queries per clock was what limited how many breaches a second a
    worker could record. Should the pass fail, it is rolled back and redone one
    clock per transaction, so one bad clock cannot hold the rest.
    """
    from helpdesk.extensions import db
    from helpdesk.models.base import utcnow
    from helpdesk.sla import clocks

    now = now or utcnow()
    handled = {"breached": 0, "warned": 0}
    try:
        while True:  # passes of PASS_LIMIT clocks, each committed, until none is left due by now
            done = clocks.check_due(now, limit=PASS_LIMIT)
            db.session.commit()
            handled = {key: handled[key] + done[key] for key in handled}
            if max(done.values()) < PASS_LIMIT:
                return handled
    except Exception:
        db.session.rollback()
        log.exception("SLA pass failed; retrying its clocks one by one")
    for ticket_id, target in clocks.due_clocks(now):
        try:
            result = clocks.check(ticket_id, target, now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("SLA check of ticket %s %s failed", ticket_id, target)
            continue
        if result in handled:
            handled[result] += 1
    return handled


def run_timer_loop(app, stop: threading.Event) -> None:
    """Handle due clocks as they come due until ``stop`` is set (a worker's background thread).

    Only the leading worker's loop works; two loops would only fight over the
    same rows. The others check every LEADER_TTL seconds whether to take over.
    """
    import os
    import socket

    from redis import Redis

    from helpdesk.extensions import db
    from helpdesk.models.base import utcnow
    from helpdesk.sla import clocks

    me = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    connection = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=1, socket_timeout=1)
    while not stop.is_set():
        if not _lead(connection, me):
            stop.wait(LEADER_TTL / 2)
            continue
        wait = MAX_SLEEP
        try:
            with app.app_context():
                handle_due()
                upcoming = clocks.next_due(utcnow())
                db.session.commit()
            if upcoming is not None:
                wait = min(MAX_SLEEP, max(MIN_SLEEP, (upcoming - utcnow()).total_seconds()))
        except Exception:
            log.exception("SLA timer loop failed; trying again shortly")
        stop.wait(wait + 0.001 if wait < MAX_SLEEP else wait)
