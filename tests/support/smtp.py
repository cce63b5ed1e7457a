"""A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""

from __future__ import annotations

import email
import threading
import time
from email import policy

from aiosmtpd.controller import Controller

from tests.support.servers import free_port


class _Handler:
    def __init__(self, sink: SmtpServer):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.sink.fail_with:
            return self.sink.fail_with
        self.sink._received(envelope.rcpt_tos, envelope.content)
        return "250 OK"


class SmtpServer:
    """Collect every message delivered to it; set ``fail_with`` to refuse them."""

    def __init__(self):
        self.port = free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.fail_with: str | None = None
        self._lock = threading.Condition()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def _received(self, rcpt_tos, content: bytes) -> None:
        with self._lock:
            self.recipients.append(list(rcpt_tos))
            self.messages.append(email.message_from_bytes(content, policy=policy.default))
            self._lock.notify_all()

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, count: int, timeout: float = 15.0) -> list:
        """Block until ``count`` messages arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.messages)} of {count} messages arrived")
                self._lock.wait(left)
            return list(self.messages)
