"""The RQ queues, their retries and time-outs, declared in one place."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from redis import Redis
from rq import Queue, Retry

_connections: dict[str, Redis] = {}


@dataclass(frozen=True)
class QueueSpec:
    """How jobs on one queue run."""

    name: str
    timeout: int  #: seconds a job may run
    retry: Retry | None  #: what happens when a job raises


#: In the order a worker serves them: urgent first.
QUEUES = {
    "sla": QueueSpec("sla", timeout=60, retry=Retry(max=3, interval=[2, 10, 30])),
    "mail": QueueSpec("mail", timeout=120, retry=Retry(max=5, interval=[10, 30, 60, 300, 900])),
    "default": QueueSpec("default", timeout=300, retry=Retry(max=3, interval=[10, 30, 60])),
}


def redis_connection(url: str | None = None) -> Redis:
    """Return the shared Redis connection for ``url`` (default: the app's)."""
    url = url or current_app.config["REDIS_URL"]
    if url not in _connections:
        _connections[url] = Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30)
    return _connections[url]


def queue(name: str) -> Queue:
    """Return the RQ queue called ``name``."""
    return Queue(name, connection=redis_connection(), default_timeout=QUEUES[name].timeout)


def not_before(at: datetime) -> datetime:
    """Return ``at`` rounded up to a whole second (aware, UTC).

    RQ scores a scheduled job by its time truncated to the second, so a job
    for 12:00:01.9 could run at 12:00:01.0; rounded up, it never runs early.
    """
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return datetime.fromtimestamp(math.ceil(at.timestamp()), UTC)


def enqueue(func: str, *args, queue_name: str = "default", job_id: str | None = None, at=None, pipeline=None):
    """Enqueue the job ``func`` (a dotted path) with its queue's retry policy.

    Call only after the commit that wrote what the job reads (see
    ``helpdesk.effects.on_commit``). With a Redis ``pipeline`` the job is
    queued when the caller executes it.
    """
    spec = QUEUES[queue_name]
    options = {"retry": spec.retry, "job_id": job_id, "failure_ttl": 7 * 24 * 3600}
    if pipeline is not None:
        options["pipeline"] = pipeline
    if current_app.config.get("RQ_SYNC"):
        from rq.utils import import_attribute

        return import_attribute(func)(*args)
    if at is not None:
        return queue(queue_name).enqueue_at(not_before(at), func, *args, **options)
    return queue(queue_name).enqueue(func, *args, **options)
