"""The live-chat load generator: bare Socket.IO-over-WebSocket clients on asyncio + aiohttp.

``python -m bench.chat_load SPEC_JSON`` runs one load process: it prints one
JSON line per phase on stdout and waits for a line on stdin before the next
(``bench/chat.py`` drives it). ``python -m bench.chat_load serve MODE PORT``
serves the help desk under another Socket.IO async mode (threading, eventlet)
for the mode comparison; gevent is the real ``python -m helpdesk.server``.

The clients speak Engine.IO 4 / Socket.IO 5 straight over one WebSocket each
(``40/ns,auth`` to connect, ``42/ns,id[event,data]`` to emit, ``43/ns,id[ack]``
back, ``2``/``3`` for ping/pong), sharing one aiohttp session: a few KiB and no
task but the reader per connection, where python-socketio's AsyncClient keeps
an aiohttp session, an Engine.IO client and its ping and reconnection machinery
for each, so that two load processes keep thousands of sockets busy without
being the bottleneck.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import resource
import sys
import time
from contextlib import contextmanager

READY_TIMEOUT = 10.0


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Refused(Exception):
    """The server refused the namespace connection (``44``) or closed the socket."""


class Socket:
    """One client connection on one namespace; ``call`` emits and awaits the ack."""

    def __init__(self, url: str, namespace: str, auth: dict, on_event=None):
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.namespace, self.auth, self.on_event = namespace, auth, on_event
        self.ws = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    async def connect(self, session) -> Socket:
        """Open the WebSocket and the namespace; raise Refused when the server says no."""
        self.ws = await session.ws_connect(self.url, compress=0, autoping=True, max_msg_size=0)
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                opened = await self.ws.receive()
                if not str(opened.data).startswith("0"):
                    raise Refused(f"no Engine.IO open packet: {opened.data!r}")
                await self.ws.send_str(f"40{self.namespace},{json.dumps(self.auth)}")
                while True:
                    msg = await self.ws.receive()
                    data = msg.data
                    if not isinstance(data, str):
                        raise Refused(f"closed while connecting: {msg.type}")
                    if data.startswith("40"):
                        break
                    if data.startswith("44"):
                        raise Refused(data)
                    self._dispatch(data, time.time())
        except BaseException:
            await self.ws.close()
            raise
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed and self._reader is not None and not self._reader.done()

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if isinstance(msg.data, str):
                    now = time.time()
                    if msg.data == "2":
                        await self.ws.send_str("3")
                    else:
                        self._dispatch(msg.data, now)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(Refused("connection lost"))
            self._pending.clear()

    def _dispatch(self, data: str, now: float) -> None:
        if data[0] != "4" or len(data) < 2 or data[1] not in "23":
            return
        rest = data[2:]
        if rest.startswith("/"):
            rest = rest.split(",", 1)[1]
        digits = len(rest) - len(rest.lstrip("0123456789"))
        payload = json.loads(rest[digits:])
        if data[1] == "3":
            future = self._pending.pop(int(rest[:digits]), None)
            if future is not None and not future.done():
                future.set_result((payload[0] if payload else None, now))
        elif self.on_event is not None:
            self.on_event(payload[0], payload[1] if len(payload) > 1 else None, now)

    async def call(self, event: str, data: dict, timeout: float = 10.0) -> tuple[object, float, float]:
        """Emit ``event``; return (ack, sent at, acked at) in wall-clock seconds."""
        if not self.connected:
            raise Refused("not connected")
        ack_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[ack_id] = future
        sent = time.time()
        await self.ws.send_str(f"42{self.namespace},{ack_id}{json.dumps([event, data])}")
        try:
            async with asyncio.timeout(timeout):
                ack, acked = await future
        finally:
            self._pending.pop(ack_id, None)
        return ack, sent, acked

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def _say(**event) -> None:
    print(json.dumps(event), flush=True)


async def _wait_for_go() -> str:
    return (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()


@contextmanager
def _collector_off():
    """Keep this process's cyclic garbage collector from running while it measures.

    With 2,500 sockets in a load process, its own collections paused it for
    25 to 50 ms a few times a run (seen with a gc callback), and every
    message in flight then looked that much slower: the server's figure
    included the load generator's pauses. Its garbage waits until the end.
    """
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def _paced(items, rate: float, work, concurrency: int = 200) -> None:
    """Run ``work(item)`` for every item, starting ``rate`` a second, at most ``concurrency`` at once."""
    gate = asyncio.Semaphore(concurrency)
    began = time.monotonic()
    tasks = []

    async def one(item):
        try:
            await work(item)
        finally:
            gate.release()

    for n, item in enumerate(items):
        await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
        await gate.acquire()
        tasks.append(asyncio.create_task(one(item)))
    await asyncio.gather(*tasks, return_exceptions=True)


async def round_trip(spec: dict) -> None:
    """Connect agents and visitors, start every conversation, then send messages at a fixed rate."""
    import aiohttp

    urls = spec["urls"]
    delivered: list[float] = []  # customer -> agent, seconds, for messages agents of this process received
    delivered_ids: set[str] = set()

    def agent_event(event, data, now):
        if event == "message" and isinstance(data, dict) and str(data.get("body", "")).startswith("bench "):
            _, sent, cid = data["body"].split(" ", 2)
            if cid not in delivered_ids:
                delivered_ids.add(cid)
                delivered.append(now - float(sent))

    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        agents = [Socket(urls[n % len(urls)], "/agent", {"token": token}, agent_event)
                  for n, token in enumerate(spec["agent_tokens"])]
        for agent in agents:
            await agent.connect(session)
        first = spec["first"]
        visitors = [Socket(urls[(first + n) % len(urls)], "/chat", {"visitor_token": None})
                    for n in range(spec["visitors"])]
        refused: list[str] = []

        async def connect(visitor):
            try:
                await visitor.connect(session)
            except Exception as exc:  # counted, not fatal: the report shows it
                refused.append(repr(exc)[:200])

        began = time.monotonic()
        await _paced(visitors, spec["connect_rate"], connect)
        _say(phase="connected", visitors=sum(v.connected for v in visitors), refused=len(refused),
             refusals=refused[:3], seconds=round(time.monotonic() - began, 1))
        await _wait_for_go()

        failures: list[str] = []

        async def start(item):
            n, visitor = item
            try:
                ack, _, _ = await visitor.call("start", {"name": f"Visitor {first + n}",
                                                         "email": f"visitor{first + n}@example.com",
                                                         "message": "Hello, where is my order?"}, timeout=60)
                if "error" in ack:
                    failures.append(json.dumps(ack)[:200])
            except Exception as exc:
                failures.append(repr(exc)[:200])

        began = time.monotonic()
        live = [v for v in visitors if v.connected]
        await _paced(list(enumerate(live)), spec["start_rate"], start, concurrency=50)
        _say(phase="started", started=len(live) - len(failures), failed=len(failures), failures=failures[:3],
             seconds=round(time.monotonic() - began, 1))
        await _wait_for_go()

        acked: list[float] = []
        errors: list[str] = []
        count = int(spec["rate"] * spec["seconds"])
        tag = spec["tag"]

        async def send(n):
            visitor = live[n % len(live)]
            cid = f"{tag}-{n}"
            try:
                body = f"bench {time.time()!r} {cid}"
                ack, sent, at = await visitor.call("message", {"client_id": cid, "body": body}, timeout=30)
                if isinstance(ack, dict) and "id" in ack:
                    acked.append(at - sent)
                else:
                    errors.append(json.dumps(ack)[:200])
            except Exception as exc:
                errors.append(repr(exc)[:200])

        with _collector_off():
            began = time.monotonic()
            await _paced(range(count), spec["rate"], send, concurrency=10_000)
            took = time.monotonic() - began  # until the last ack or time-out: the rate the server kept up with
            await asyncio.sleep(spec.get("drain", 3.0))  # late deliveries to agents
        _say(phase="result", sent=count, acked=acked, errors=len(errors), error_samples=errors[:5],
             delivered=delivered, seconds=round(took, 2), rate=round(count / took, 1))
        await _wait_for_go()
        await asyncio.gather(*(s.close() for s in visitors + agents), return_exceptions=True)


async def restarts(spec: dict) -> None:
    """Send messages through server kills: an outbox per visitor, resent with the same client_id until acked."""
    import aiohttp

    url = spec["urls"][0]
    visitors = spec["visitors"]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        tokens: list[str | None] = [None] * visitors
        sockets: list[Socket | None] = [None] * visitors
        outboxes: list[list[str]] = [[] for _ in range(visitors)]
        acked: dict[str, int] = {}
        attempts = {"sends": 0, "timeouts": 0, "reconnects": 0, "errors": 0}

        async def ensure(v: int) -> Socket:
            while sockets[v] is None or not sockets[v].connected:
                if sockets[v] is not None:
                    attempts["reconnects"] += 1
                try:
                    sockets[v] = await Socket(url, "/chat", {"visitor_token": tokens[v]}).connect(session)
                    await sockets[v].call("history", {"after_id": None}, timeout=5)  # as the widget does
                except Exception:
                    sockets[v] = None
                    await asyncio.sleep(0.2)
            return sockets[v]

        async def begin(v: int) -> None:
            socket = await ensure(v)
            ack, _, _ = await socket.call("start", {"name": f"Visitor {v}", "message": "Hello"}, timeout=30)
            tokens[v] = ack["visitor_token"]

        await asyncio.gather(*(begin(v) for v in range(visitors)))
        _say(phase="started", visitors=visitors)
        await _wait_for_go()

        done = asyncio.Event()

        async def flush(v: int) -> None:
            while not (done.is_set() and not outboxes[v]):
                if not outboxes[v]:
                    await asyncio.sleep(0.01)
                    continue
                cid = outboxes[v][0]
                socket = await ensure(v)
                attempts["sends"] += 1
                try:
                    ack, _, _ = await socket.call("message", {"client_id": cid, "body": f"restart {cid}"}, timeout=3)
                except TimeoutError:
                    attempts["timeouts"] += 1
                    await socket.close()
                    continue
                except Exception:
                    # The write failed on a dying connection (the server was killed) before the reader
                    # noticed: close it, so ensure() reconnects, instead of spinning on it without yielding.
                    await socket.close()
                    await asyncio.sleep(0.05)
                    continue
                if isinstance(ack, dict) and "id" in ack:
                    acked[cid] = ack["id"]
                    outboxes[v].pop(0)
                else:
                    attempts["errors"] += 1
                    await asyncio.sleep(0.5)

        flushers = [asyncio.create_task(flush(v)) for v in range(visitors)]
        began = time.monotonic()
        for n in range(spec["messages"]):
            await asyncio.sleep(max(0.0, began + n / spec["rate"] - time.monotonic()))
            outboxes[n % visitors].append(f"r{n % visitors}-{n}")
        _say(phase="queued", seconds=round(time.monotonic() - began, 1))
        done.set()
        try:
            async with asyncio.timeout(spec.get("settle", 120)):
                await asyncio.gather(*flushers)
        except TimeoutError:
            pass
        _say(phase="result", acked=acked, unacked=sum(len(o) for o in outboxes), tokens=tokens, **attempts)
        await _wait_for_go()
        await asyncio.gather(*(s.close() for s in sockets if s is not None), return_exceptions=True)


def serve(mode: str, port: int) -> None:
    """Serve the help desk with Socket.IO in ``mode`` (threading or eventlet), configured from the environment."""
    if mode == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    raise_fd_limit()
    from config import Config
    from helpdesk import create_app
    from helpdesk.extensions import socketio

    config = Config.from_env()
    config.SOCKETIO_ASYNC_MODE = mode
    app = create_app(config)
    socketio.run(app, host="127.0.0.1", port=port, log_output=False, allow_unsafe_werkzeug=True)


def main(argv: list[str]) -> int:
    """Run one load process (``SPEC_JSON``) or a server (``serve MODE PORT``)."""
    if argv[0] == "serve":
        serve(argv[1], int(argv[2]))
        return 0
    raise_fd_limit()
    spec = json.loads(argv[0])
    asyncio.run({"round_trip": round_trip, "restarts": restarts}[spec["kind"]](spec))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
