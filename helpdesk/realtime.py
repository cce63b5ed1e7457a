"""The one place that names Socket.IO namespaces, rooms and server events.

Every emit goes through here and, from services, only after the commit (see
``helpdesk.effects``). With ``message_queue`` set, emits from any web process
or RQ worker reach clients connected to every web process.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask, current_app

from helpdesk.extensions import db, socketio
from helpdesk.messagequeue import MessageQueue

log = logging.getLogger(__name__)

AGENT_NS = "/agent"
CHAT_NS = "/chat"

AGENTS = "agents"  #: every signed-in agent
ADMINS = "admins"  #: admins, who see restricted teams' tickets too


def agent_room(agent_id: int) -> str:
    """Return the room of one agent's connections."""
    return f"agent:{agent_id}"


def team_room(team_id: int) -> str:
    """Return the room of a team's members."""
    return f"team:{team_id}"


def ticket_room(reference: str) -> str:
    """Return the room of agents viewing a ticket."""
    return f"ticket:{reference}"


def conversation_room(conversation_id: int) -> str:
    """Return the room of a chat conversation's participants."""
    return f"conversation:{conversation_id}"


_collector = threading.local()  # greenlet-local under gevent


@contextmanager
def batched() -> Iterator[None]:
    """Collect the emits made inside the block and send them together at its end."""
    if getattr(_collector, "emits", None) is not None:
        yield  # already collecting: the outer block sends them
        return
    _collector.emits = []
    try:
        yield
    finally:
        emits, _collector.emits = _collector.emits, None
        _emit_now(emits)


def _emit_now(emits: list[tuple]) -> None:
    manager = getattr(socketio.server, "manager", None)
    try:
        if isinstance(manager, MessageQueue):
            manager.emit_many(emits)
            return
        for event, data, namespace, room, skip_sid in emits:
            socketio.emit(event, data, to=room, namespace=namespace, skip_sid=skip_sid)
    except Exception:  # a live update is a courtesy; the database is the truth
        log.exception("could not emit %d events", len(emits))


def emit(event: str, data: dict, *, to: str, namespace: str = AGENT_NS, skip_sid: str | None = None) -> None:
    """Send ``event`` to a room (at the end of the enclosing ``batched`` block, if any); never raise."""
    pending = getattr(_collector, "emits", None)
    if pending is not None:
        pending.append((event, data, namespace, to, skip_sid))
        return
    _emit_now([(event, data, namespace, to, skip_sid)])


#: Events the server sends in a chat (CONTRACT §6 and docs/chat-protocol.md).
VISITOR_EVENTS = ("message", "typing", "state", "agent")
AGENT_CHAT_EVENTS = ("chat_request", "chat_state", "message", "typing")


def to_visitor(conversation_id: int, event: str, data: dict, skip_sid: str | None = None) -> None:
    """Send a chat event to every socket of the conversation's visitor, on any process."""
    assert event in VISITOR_EVENTS, event
    emit(event, data, to=conversation_room(conversation_id), namespace=CHAT_NS, skip_sid=skip_sid)


def to_agent(agent_id: int, event: str, data: dict, skip_sid: str | None = None) -> None:
    """Send a chat event to every console of one agent, on any process."""
    assert event in AGENT_CHAT_EVENTS, event
    emit(event, data, to=agent_room(agent_id), namespace=AGENT_NS, skip_sid=skip_sid)


def ticket_changed(ticket_id: int, change: str) -> None:
    """Tell every console that may see the ticket that it changed."""
    from helpdesk.models import Ticket

    ticket = db.session.get(Ticket, ticket_id)
    if ticket is not None:
        announce_ticket(*ticket_announcement(ticket, change))


def ticket_announcement(ticket, change: str) -> tuple[dict, tuple[str, ...]]:
    """Return what ``ticket_changed`` sends of ``ticket``, and to which rooms.

    ``ticket`` is a Ticket, or a ticket a batch has just written (a
    ``DraftTicket``): the batch builds the announcement while its rows are at
    hand, and ``announce_ticket`` sends it after the commit, with no query.
    """
    from helpdesk.api.schema import ticket_json

    payload = {"reference": ticket.reference, "change": change, "ticket": ticket_json(ticket)}
    team = ticket.team
    rooms = (team_room(team.id), ADMINS) if team is not None and team.restricted else (AGENTS,)
    return payload, rooms


def announce_ticket(payload: dict, rooms: tuple[str, ...]) -> None:
    """Send a ``ticket_announcement`` to the consoles."""
    for room in rooms:
        emit("ticket", payload, to=room)


def _load_tickets(calls: list[tuple]) -> list:
    """Load the tickets of many ticket_changed calls in one query (their customer, identities and tags too)."""
    from sqlalchemy import select

    from helpdesk.models import Ticket

    ids = sorted({args[0] for args in calls})
    return list(db.session.scalars(select(Ticket).where(Ticket.id.in_(ids))))


ticket_changed.prefetch = _load_tickets  # see helpdesk.effects: one load per commit, not one per event


#: A ticket that only gained a message is announced to the consoles at most this often. Every
#: console gets every announcement, so with many live chats this is most of a web process's
#: work: 1,000 chats at 500 messages/s made 10,000 frames/s to 20 consoles at 1 s, and
#: their bursts held up acks. The chat's own ``message`` event is not delayed.
TOUCH_SECONDS = 5.0
#: And one process announces at most this many such tickets a second, the longest waiting first.
#: At 5 s each, 1,000 live chats still made 200 announcements a second, each a frame to every
#: console: a sixth of the server's work per chat message (docs/benchmarks.md), and more rows a
#: second than anyone reads. Changes other than a new message are never held back.
TOUCH_RATE = 40.0
#: Most live events one background pass sends before letting other greenlets run.
CHUNK = 50
#: How often the announcer looks for tickets due: the first touch of a ticket waits at most this long.
TOUCH_TICK = 0.25


class TouchSchedule:
    """When to announce touched tickets: at once the first time, then at most once every ``every`` seconds.

    Each ticket keeps its own schedule, so the announcements are spread out
    rather than sent in bursts, and no more than ``rate`` go out a second (a
    second's worth may go at once): beyond that the tickets take turns, the
    one due longest first. Times are the caller's ``now`` (monotonic).
    """

    def __init__(self, every: float, rate: float = TOUCH_RATE):
        self.every = every
        self.rate = rate
        self._due: dict[int, tuple[float, str]] = {}  # ticket id -> (when to announce it, change)
        self._announced: dict[int, float] = {}  # ticket id -> when last announced, kept for ``every``
        self._allowance = rate  # announcements that may go now
        self._taken_at: float | None = None

    def touch(self, ticket_id: int, change: str, now: float) -> None:
        """Note that the ticket changed; touches before its announcement make one."""
        when = self._due[ticket_id][0] if ticket_id in self._due else \
            max(now, self._announced.get(ticket_id, now - self.every) + self.every)
        self._due[ticket_id] = (when, change)

    def take_due(self, now: float) -> dict[int, str]:
        """Return the tickets to announce now (ticket id -> latest change), counted as announced at ``now``."""
        if self._taken_at is not None:
            self._allowance = min(self.rate, self._allowance + (now - self._taken_at) * self.rate)
        self._taken_at = now
        ready = [(when, ticket_id) for ticket_id, (when, _) in self._due.items() if when <= now]
        if len(ready) > self._allowance:
            ready = heapq.nsmallest(int(self._allowance), ready)
        self._allowance -= len(ready)
        due = {ticket_id: self._due.pop(ticket_id)[1] for _, ticket_id in ready}
        self._announced = {ticket_id: at for ticket_id, at in self._announced.items() if at > now - self.every}
        self._announced.update(dict.fromkeys(due, now))
        return due


class _Later:
    """Send a process's queued live events from background tasks, so a chat event's ack need not wait for them.

    Only the production server (gevent, where a task is a cheap greenlet)
    defers; elsewhere everything is sent at once, as before. Events queued with
    ``later`` go out in order. A ``touched`` ticket is announced, with the
    ticket as it is then, on the TouchSchedule, looked at every TOUCH_TICK;
    tickets due together are loaded in one query.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._touched = TouchSchedule(TOUCH_SECONDS)
        self._started = False

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        app = current_app._get_current_object()
        socketio.start_background_task(self._send, self._queue)
        socketio.start_background_task(self._announce_touched, app)

    def call(self, fn: Callable, *args) -> None:
        if current_app.config.get("SOCKETIO_ASYNC_MODE") != "gevent":
            fn(*args)
            return
        self._start()
        self._queue.put((fn, args))

    def touch(self, ticket_id: int, change: str) -> None:
        if current_app.config.get("SOCKETIO_ASYNC_MODE") != "gevent":
            ticket_changed(ticket_id, change)
            return
        self._start()
        with self._lock:
            self._touched.touch(ticket_id, change, time.monotonic())

    @staticmethod
    def _send(pending: queue.Queue) -> None:
        while True:
            calls = [pending.get()]
            while len(calls) < CHUNK:
                try:
                    calls.append(pending.get_nowait())
                except queue.Empty:
                    break
            socketio.sleep(0)  # let the other greenlets run between chunks
            with batched():  # everything queued meanwhile (up to CHUNK): one message on the queue
                for fn, args in calls:
                    try:
                        fn(*args)
                    except Exception:  # a live update is a courtesy; the next one still goes out
                        log.exception("live event %s failed", getattr(fn, "__name__", fn))

    def _announce_touched(self, app: Flask) -> None:
        while True:
            socketio.sleep(TOUCH_TICK)
            with self._lock:
                due = list(self._touched.take_due(time.monotonic()).items())
            for start in range(0, len(due), CHUNK):
                calls = due[start:start + CHUNK]
                with app.app_context(), batched():
                    try:
                        loaded = _load_tickets(calls)  # noqa: F841 (keeps them in the identity map for the loop)
                        for ticket_id, change in calls:
                            ticket_changed(ticket_id, change)
                    except Exception:
                        log.exception("could not announce %d changed tickets", len(calls))
                    finally:
                        db.session.remove()
                socketio.sleep(0)  # a long list must not hold up the chat events waiting meanwhile


_later = _Later()


def later(fn: Callable, *args) -> None:
    """Run ``fn(*args)`` (live events only, no database work) soon after the current event is answered, in order."""
    _later.call(fn, *args)


def ticket_touched(ticket_id: int, change: str = "message") -> None:
    """Tell the consoles a ticket gained a message: soon, and at most once every TOUCH_SECONDS (see _Later)."""
    _later.touch(ticket_id, change)
