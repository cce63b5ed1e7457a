"""What the app emits to Socket.IO clients, read back from the real Redis message queue."""

from __future__ import annotations

import json
from collections.abc import Callable

import redis

from helpdesk.messagequeue import MessageQueue


def emitted_through_redis(app) -> Callable[[], list[dict]]:
    """Subscribe to the Socket.IO message queue; return a function listing what was emitted since."""
    pubsub = redis.Redis.from_url(app.config["REDIS_URL"]).pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("flask-socketio")
    pubsub.get_message(timeout=1)

    def received() -> list[dict]:
        events = []
        while (message := pubsub.get_message(timeout=0.5)) is not None:
            data = json.loads(message["data"])
            # Emits made together travel as one message (helpdesk.messagequeue.MessageQueue).
            events += data["items"] if data.get("method") == MessageQueue.BATCH else [data]
        return events

    return received
