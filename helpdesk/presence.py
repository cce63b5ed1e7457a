"""Which agents have a console open, on any web process.

An agent's presence (online, away, offline) is what they chose; it stays
chosen across reconnects. Whether anyone is actually there is another
matter: an agent who closed the console while "online" must not be offered
chats until the accept time-out runs out. Each /agent socket is kept in a
Redis sorted set per agent, scored with the instant it stops counting; a
process renews its sockets every HEARTBEAT seconds and removes them when
they disconnect, so the sockets of a process that died stop counting after
TTL seconds.
"""

from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY = "helpdesk:agent-sockets:{}"
#: Seconds a socket counts for without being renewed.
TTL = 90
#: Seconds between a process's renewals of its sockets.
HEARTBEAT = 30

#: sid -> agent id, for the sockets connected to this process.
_mine: dict[str, int] = {}
_renewing: set[str] = set()  # Redis URLs this process already renews sockets on


def _redis():
    from workers.queues import redis_connection

    return redis_connection()


def connected(agent_id: int, sid: str) -> None:
    """Count the agent's new socket (from the socket's connect handler)."""
    from flask import current_app

    from helpdesk.extensions import socketio

    _mine[sid] = agent_id
    try:
        _redis().zadd(KEY.format(agent_id), {sid: time.time() + TTL})
    except RedisError:
        log.warning("could not record agent %s's socket; routing treats them as present", agent_id)
    url = current_app.config["REDIS_URL"]
    if url not in _renewing:
        _renewing.add(url)
        socketio.start_background_task(_renew_forever, url)


def disconnected(agent_id: int, sid: str) -> None:
    """Stop counting a socket that closed."""
    _mine.pop(sid, None)
    try:
        _redis().zrem(KEY.format(agent_id), sid)
    except RedisError:
        log.warning("could not forget agent %s's socket; it stops counting after %s s", agent_id, TTL)


def reachable(agent_ids: list[int]) -> set[int]:
    """Return which of ``agent_ids`` have a console open now (all of them when Redis cannot say)."""
    if not agent_ids:
        return set()
    now = time.time()
    try:
        pipe = _redis().pipeline(transaction=False)
        for agent_id in agent_ids:
            pipe.zcount(KEY.format(agent_id), now, "+inf")
        counts = pipe.execute()
    except RedisError:
        return set(agent_ids)
    return {agent_id for agent_id, count in zip(agent_ids, counts, strict=True) if count}


def renew(connection) -> None:
    """Extend this process's sockets and drop every expired one of their agents."""
    now = time.time()
    pipe = connection.pipeline(transaction=False)
    for sid, agent_id in list(_mine.items()):
        pipe.zadd(KEY.format(agent_id), {sid: now + TTL})
    for agent_id in set(_mine.values()):
        pipe.zremrangebyscore(KEY.format(agent_id), "-inf", now)
    pipe.execute()


def _renew_forever(url: str) -> None:
    from redis import Redis

    from helpdesk.extensions import socketio

    connection = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    while True:
        socketio.sleep(HEARTBEAT)
        try:
            renew(connection)
        except RedisError:
            log.warning("could not renew this process's agent sockets; trying again in %s s", HEARTBEAT)
