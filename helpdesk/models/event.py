"""The append-only log of everything that happens to a ticket."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column, relationship

from helpdesk.extensions import db
from helpdesk.models.agent import Agent
from helpdesk.models.base import UTCDateTime, utcnow
from helpdesk.models.ticket import Ticket

ACTOR_TYPES = ("agent", "customer", "system")


class TicketEvent(db.Model):
    """One change to a ticket: who, what, when. Rows are never updated or deleted."""

    __table_args__ = (Index("ix_ticket_event_ticket_id", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    actor_type: Mapped[str] = mapped_column(String(12))
    actor_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    #: What happened: created, message, note, status, priority, assignee, team,
    #: tags, merged, merged_from, customer_reply, sla.* ...
    kind: Mapped[str] = mapped_column(String(40))
    #: The details, e.g. {"from": "open", "to": "solved"}.
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor_agent: Mapped[Agent | None] = relationship()
    ticket: Mapped[Ticket] = relationship()


@event.listens_for(TicketEvent, "before_update")
@event.listens_for(TicketEvent, "before_delete")
def _refuse_change(mapper, connection, target):
    raise RuntimeError("ticket events are append-only")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_change(state: ORMExecuteState) -> None:
    # update()/delete() statements skip the mapper events above.
    if (state.is_update or state.is_delete) and state.statement.table.name == TicketEvent.__tablename__:
        raise RuntimeError("ticket events are append-only")
