"""The one place that names Socket.IO namespaces, rooms and server events.

Every emit goes through here and, from services, only after the commit (see
``helpdesk.effects``). With ``message_queue`` set, emits from any web process
or RQ worker reach clients connected to every web process.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from flask import Flask, current_app

from helpdesk.extensions import db, socketio

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


def emit(event: str, data: dict, *, to: str, namespace: str = AGENT_NS, skip_sid: str | None = None) -> None:
    """Send ``event`` to a room; never raise into the caller."""
    try:
        socketio.emit(event, data, to=to, namespace=namespace, skip_sid=skip_sid)
    except Exception:  # a live update is a courtesy; the database is the truth
        log.exception("could not emit %s to %s", event, to)


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
    from helpdesk.api.schema import ticket_json
    from helpdesk.models import Ticket

    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return
    payload = {"reference": ticket.reference, "change": change, "ticket": ticket_json(ticket)}
    if ticket.team is not None and ticket.team.restricted:
        emit("ticket", payload, to=team_room(ticket.team_id))
        emit("ticket", payload, to=ADMINS)
    else:
        emit("ticket", payload, to=AGENTS)


def _load_tickets(calls: list[tuple]) -> list:
    """Load the tickets of many ticket_changed calls in one query (their customer, identities and tags too)."""
    from sqlalchemy import select

    from helpdesk.models import Ticket

    ids = sorted({args[0] for args in calls})
    return list(db.session.scalars(select(Ticket).where(Ticket.id.in_(ids))))


ticket_changed.prefetch = _load_tickets  # see helpdesk.effects: one load per commit, not one per event


#: A ticket that only gained a message is announced to the consoles at most this often.
TOUCH_SECONDS = 1.0


class _Later:
    """Send a process's queued live events from background tasks, so a chat event's ack need not wait for them.

    Only the production server (gevent, where a task is a cheap greenlet)
    defers; elsewhere everything is sent at once, as before. Events queued with
    ``later`` go out in order; tickets ``touched`` within TOUCH_SECONDS are
    loaded in one query and announced once each, with the ticket as it is then.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._touched: dict[int, str] = {}
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
            self._touched[ticket_id] = change

    @staticmethod
    def _send(pending: queue.Queue) -> None:
        while True:
            fn, args = pending.get()
            try:
                fn(*args)
            except Exception:  # a live update is a courtesy; the next one still goes out
                log.exception("live event %s failed", getattr(fn, "__name__", fn))

    def _announce_touched(self, app: Flask) -> None:
        while True:
            socketio.sleep(TOUCH_SECONDS)
            with self._lock:
                touched, self._touched = self._touched, {}
            if not touched:
                continue
            with app.app_context():
                try:
                    calls = [(ticket_id, change) for ticket_id, change in touched.items()]
                    loaded = _load_tickets(calls)  # noqa: F841 (keeps them in the identity map for the loop)
                    for ticket_id, change in calls:
                        ticket_changed(ticket_id, change)
                except Exception:
                    log.exception("could not announce %d changed tickets", len(touched))
                finally:
                    db.session.remove()


_later = _Later()


def later(fn: Callable, *args) -> None:
    """Run ``fn(*args)`` (live events only, no database work) soon after the current event is answered, in order."""
    _later.call(fn, *args)


def ticket_touched(ticket_id: int, change: str = "message") -> None:
    """Tell the consoles a ticket gained a message; several within TOUCH_SECONDS make one ``ticket`` event."""
    _later.touch(ticket_id, change)
