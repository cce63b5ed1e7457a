"""Queue the RQ jobs that fire at a clock's warning and due times.

Each job re-reads the clock and does nothing if the target was met, paused or
moved, so stale timers are harmless; the per-minute sweep catches any timer
that Redis lost. Job ids name the instant, so re-scheduling the same time
twice queues one job.
"""

from __future__ import annotations

import logging
from datetime import datetime

from redis.exceptions import RedisError

from workers.queues import enqueue

log = logging.getLogger(__name__)


def schedule(ticket_id: int, target: str, due_at: datetime | None, warn_at: datetime | None) -> None:
    """Queue checks at ``warn_at`` and ``due_at`` (after the commit that set them)."""
    for kind, when in (("warn", warn_at), ("due", due_at)):
        if when is None:
            continue
        job_id = f"sla-{ticket_id}-{target}-{kind}-{int(when.timestamp() * 1000)}"
        try:
            enqueue("workers.sla.check_clock", ticket_id, target, queue_name="sla", job_id=job_id, at=when)
        except RedisError:
            log.warning("could not schedule %s; the sweep will catch it", job_id)
