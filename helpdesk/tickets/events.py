"""Append entries to a ticket's event log."""

from __future__ import annotations

from sqlalchemy import insert

from helpdesk.extensions import db
from helpdesk.models import Agent, Customer, Ticket, TicketEvent

Actor = Agent | Customer | None


def _entry(kind: str, actor: Actor, data: dict) -> dict:
    return {
        "kind": kind,
        "actor_type": "agent" if isinstance(actor, Agent) else "customer" if isinstance(actor, Customer) else "system",
        "actor_agent_id": actor.id if isinstance(actor, Agent) else None,
        "data": data,
    }


def record(ticket: Ticket, kind: str, actor: Actor = None, **data) -> TicketEvent:
    """Log that ``actor`` (None: the system) did ``kind`` to ``ticket``."""
    event = TicketEvent(ticket=ticket, **_entry(kind, actor, data))
    db.session.add(event)
    return event


def entry(ticket: Ticket, kind: str, actor: Actor = None, **data) -> dict:
    """Return the log entry ``record`` would add, for ``record_many``; the ticket must have an id."""
    return {"ticket_id": ticket.id, **_entry(kind, actor, data)}


def record_many(entries: list[dict]) -> None:
    """Write log entries of tickets already written, in order, with one executemany INSERT (no ORM objects)."""
    if entries:
        db.session.execute(insert(TicketEvent), entries)
