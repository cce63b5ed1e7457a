"""The one place that names Socket.IO namespaces, rooms and server events.

Every emit goes through here and, from services, only after the commit (see
``helpdesk.effects``). With ``message_queue`` set, emits from any web process
or RQ worker reach clients connected to every web process.
"""

from __future__ import annotations

import logging

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
