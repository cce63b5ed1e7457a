"""How live events travel: the JSON of Socket.IO packets, and the Redis queue between processes.

``create_app`` gives Flask-SocketIO both; ``helpdesk.realtime`` is what the
rest of the code emits through.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from functools import cached_property

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
    """Socket.IO's Redis message queue, passing many emits as one Redis message.

    Every emit is handled in this process at once and published for the
    others. Published one at a time, each emit was a PUBLISH round trip, and
    every process (this one too) read and parsed it back: together a sixth
    of a web process's work per chat message (docs/benchmarks.md). Here the production server
    (gevent) gathers what it publishes for PUBLISH_DELAY and sends it as one
    message, which ``_listen`` unpacks into the plain messages the stock
    listener handles; a process skips its own without parsing them. Only
    clients of other processes wait the extra milliseconds. A process that
    does not serve (an RQ worker, write-only) publishes at once: it may exit
    right after its job.
    """

    BATCH = "helpdesk.emits"
    #: How long the server gathers what it publishes for the other processes.
    PUBLISH_DELAY = 0.01
    #: Set by ``initialize`` in the gevent server; until then (and elsewhere) everything is published at once.
    _gathering = False

    def initialize(self):
        super().initialize()
        self._outbox: list[dict] = []
        self._gathering = (not self.write_only and self.server is not None
                           and getattr(self.server, "async_mode", None) == "gevent")
        self._flush_due = self.server.eio.create_event() if self._gathering else None
        if self._gathering:
            self.server.start_background_task(self._flush)

    @cached_property
    def _own_batch(self) -> bytes:
        """The first bytes of this process's batches (``_publish_now`` puts host_id first)."""
        return json.dumps({"host_id": self.host_id})[:-1].encode()

    def emit_many(self, emits: list[tuple[str, dict, str, str, str | None]]) -> None:
        """Emit each (event, data, namespace, room, skip_sid): JSON data, no callbacks."""
        messages = [{"method": "emit", "event": event, "data": [data], "binary": False, "namespace": namespace,
                     "room": room, "skip_sid": skip_sid, "callback": None, "host_id": self.host_id}
                    for event, data, namespace, room, skip_sid in emits]
        for message in messages:
            self._handle_emit(message)
        if messages:
            self._send(messages)

    def _publish(self, data):
        """Every message python-socketio publishes (already handled in this process) goes the same way."""
        self._send([data])

    def _send(self, messages: list[dict]) -> None:
        if not self._gathering:
            self._publish_now(messages)
            return
        if not self._outbox:
            self._flush_due.set()
        self._outbox.extend(messages)

    def _publish_now(self, messages: list[dict]) -> None:
        # host_id first: a process recognises its own batch by the first bytes (see _listen).
        super()._publish({"host_id": self.host_id, "method": self.BATCH, "items": messages})

    def _flush(self) -> None:
        while True:
            self._flush_due.wait()
            self._flush_due.clear()
            self.server.sleep(self.PUBLISH_DELAY)
            messages, self._outbox = self._outbox, []
            if messages:
                self._publish_now(messages)

    def _listen(self) -> Iterator:
        for raw in super()._listen():
            if isinstance(raw, bytes) and raw.startswith(self._own_batch):
                continue  # this process's own batch, handled when it was sent
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
