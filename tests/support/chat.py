"""Socket.IO clients for chat tests: a visitor on /chat and an agent on /agent, recording what they receive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import socketio
from sqlalchemy import select

from helpdesk.extensions import db
from tests.support.servers import ROOT


class Peer:
    """A python-socketio client on one namespace that keeps every event it receives."""

    namespace = "/"

    def __init__(self, url: str, auth: dict, origin: str | None = None, reconnect: bool = False):
        self.url, self.auth = url, auth
        self.received: list[tuple[str, object]] = []
        self._cond = threading.Condition()
        # websocket-client adds an Origin of its own unless told not to; a browser sends exactly one.
        self.client = socketio.Client(reconnection=reconnect, reconnection_delay=0.2, reconnection_delay_max=1,
                                      websocket_extra_options={"suppress_origin": bool(origin)})
        self.client.on("*", self._record, namespace=self.namespace)
        headers = {"Origin": origin} if origin else {}
        self.client.connect(url, namespaces=[self.namespace], auth=auth, transports=["websocket"], headers=headers,
                            wait_timeout=10)

    def _record(self, event, data=None):
        with self._cond:
            self.received.append((event, data))
            self._cond.notify_all()

    def call(self, event: str, data=None, timeout: float = 10):
        """Send ``event`` and return its acknowledgement."""
        return self.client.call(event, data, namespace=self.namespace, timeout=timeout)

    def wait_for(self, event: str, match=lambda data: True, timeout: float = 10):
        """Block until an ``event`` whose data satisfies ``match`` arrived; return that data."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for name, data in self.received:
                    if name == event and match(data):
                        return data
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {event} within {timeout}s; got {[n for n, _ in self.received]}")
                self._cond.wait(left)

    def events(self, event: str) -> list:
        """Return the data of every ``event`` received so far."""
        with self._cond:
            return [d for n, d in self.received if n == event]

    def close(self) -> None:
        self.client.disconnect()


class VisitorClient(Peer):
    """A customer's widget: ``/chat`` with an optional visitor token."""

    namespace = "/chat"

    def __init__(self, url: str, token: str | None = None, **kw):
        super().__init__(url, {"visitor_token": token}, **kw)


class AgentClient(Peer):
    """An agent's console or bot: ``/agent`` with an API token."""

    namespace = "/agent"

    def __init__(self, url: str, token: str, **kw):
        super().__init__(url, {"token": token}, **kw)


class Worker:
    """``python -m workers`` (RQ worker + scheduler) in its own process."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        # Its own process group, so stop() can end the supervisor's child whatever state it is in.
        self.process = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env={**os.environ, **self.env},
                                        start_new_session=True)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # anything the supervisor left behind
        except ProcessLookupError:
            pass
        self.process.wait(10)


def start(client: VisitorClient, message="My order did not arrive", name="Maria Lopez",
          email="maria@example.com") -> dict:
    """Start a chat as a visitor; return the ack, which must not be an error."""
    ack = client.call("start", {"name": name, "email": email, "message": message})
    assert "error" not in ack, ack
    return ack


def fresh(model, **where) -> list:
    """Return the rows of ``model`` as the database holds them now (servers write them)."""
    db.session.expire_all()
    return db.session.scalars(select(model).filter_by(**where)).all()


def wait_until(predicate, timeout: float = 10.0, every: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; return its last answer."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return bool(predicate())
        time.sleep(every)
    return True
