"""Append entries to a ticket's event log."""

from __future__ import annotations

from helpdesk.extensions import db
from helpdesk.models import Agent, Customer, Ticket, TicketEvent

Actor = Agent | Customer | None


def record(ticket: Ticket, kind: str, actor: Actor = None, **data) -> TicketEvent:
    """Log that ``actor`` (None: the system) did ``kind`` to ``ticket``."""
    event = TicketEvent(
        ticket=ticket,
        kind=kind,
        actor_type="agent" if isinstance(actor, Agent) else "customer" if isinstance(actor, Customer) else "system",
        actor_agent_id=actor.id if isinstance(actor, Agent) else None,
        data=data,
    )
    db.session.add(event)
    return event
