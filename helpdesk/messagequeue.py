"""How live events travel: the JSON of Socket.IO packets, and the Redis queue between processes.

``create_app`` gives Flask-SocketIO both; ``helpdesk.realtime`` is what the
rest of the code emits through.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import socketio

log = logging.getLogger(__name__)


class WireJSON:
    """The JSON Socket.IO packets are encoded and parsed with: the standard library's, decoding with one decoder.

    python-engineio's default guards against huge integer literals the same
    way, but builds a new decoder for every packet parsed, a twentieth of the
    server's work per chat message.
    """

    @staticmethod
    def _bounded_int(digits: str) -> int:
        if len(digits) > 100:
            raise ValueError("integer too large")
        return int(digits)

    _decoder = json.JSONDecoder(parse_int=_bounded_int)
    dumps = staticmethod(json.dumps)

    @classmethod
    def loads(cls, text, **kwargs):
        if kwargs:
            return json.loads(text, parse_int=cls._bounded_int, **kwargs)
        return cls._decoder.decode(text.decode() if isinstance(text, bytes | bytearray) else text)


class MessageQueue(socketio.RedisManager):
    """Socket.IO's Redis message queue, able to pass many emits as one Redis message.

    Every emit is one PUBLISH, read back (and parsed) by every process, this
    one included. ``emit_many`` sends a list of emits to this process's
    clients at once and to the other processes in a single message, which
    ``_listen`` unpacks into the plain emits the stock listener handles.
    """

    BATCH = "helpdesk.emits"

    def emit_many(self, emits: list[tuple[str, dict, str, str, str | None]]) -> None:
        """Emit each (event, data, namespace, room, skip_sid): JSON data, no callbacks."""
        messages = [{"method": "emit", "event": event, "data": [data], "binary": False, "namespace": namespace,
                     "room": room, "skip_sid": skip_sid, "callback": None, "host_id": self.host_id}
                    for event, data, namespace, room, skip_sid in emits]
        for message in messages:
            self._handle_emit(message)
        if messages:
            self._publish({"method": self.BATCH, "items": messages, "host_id": self.host_id})

    def _listen(self) -> Iterator:
        for raw in super()._listen():
            try:
                message = json.loads(raw)
            except ValueError:
                log.warning("ignoring a message-queue message that is not JSON")
                continue
            if isinstance(message, dict) and message.get("method") == self.BATCH:
                if message.get("host_id") != self.host_id:
                    yield from message.get("items") or ()
            else:
                yield message
