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


def emit(event: str, data: dict, *, to: str, namespace: str = AGENT_NS) -> None:
    """Send ``event`` to a room; never raise into the caller."""
    try:
        socketio.emit(event, data, to=to, namespace=namespace)
    except Exception:  # a live update is a courtesy; the database is the truth
        log.exception("could not emit %s to %s", event, to)


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
