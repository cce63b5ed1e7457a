"""Chat conversations: a live session between a visitor and an agent, carried on a ticket."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.extensions import db
from helpdesk.models.agent import Agent, Team
from helpdesk.models.base import UTCDateTime, utcnow
from helpdesk.models.customer import Customer
from helpdesk.models.ticket import Ticket

#: waiting: offered, nobody accepted yet; active: an agent is in it; offline: nobody
#: available, the ticket continues by email; ended: closed by either side.
STATES = ("waiting", "active", "offline", "ended")
OPEN_STATES = ("waiting", "active", "offline")


class Conversation(db.Model):
    """One chat: who is in it, in which state, on which ticket."""

    __table_args__ = (
        Index("ix_conversation_agent_state", "agent_id", "state"),
        Index("ix_conversation_state_offered", "state", "offered_agent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    #: SHA-256 of the visitor token; the token itself is only ever in the visitor's browser.
    visitor_hash: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(12), default="waiting")
    #: The agent in the chat (set on accept or transfer).
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    #: The agent routing chose while the chat waits; None when nobody was available.
    offered_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the current offer was made; the accept time-out counts from here.
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship()
    customer: Mapped[Customer] = relationship()
    agent: Mapped[Agent | None] = relationship(foreign_keys=[agent_id])
    offered_agent: Mapped[Agent | None] = relationship(foreign_keys=[offered_agent_id])
    team: Mapped[Team | None] = relationship()

    @staticmethod
    def digest(token: str) -> str:
        """Return the stored form of a visitor token."""
        return hashlib.sha256(token.encode()).hexdigest()
