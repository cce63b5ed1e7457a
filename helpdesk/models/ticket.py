"""Tickets, their tags, and the human-friendly reference that names them."""

from __future__ import annotations

import re
from datetime import datetime

from flask import current_app
from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.extensions import db
from helpdesk.models.agent import Agent, Team
from helpdesk.models.base import UTCDateTime, utcnow
from helpdesk.models.customer import Customer

STATUSES = ("new", "open", "pending", "solved", "closed")
OPEN_STATUSES = ("new", "open", "pending")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "web", "chat", "phone", "api")
#: Added to a ticket's id to make its reference number, so HD-1001 is the first.
REFERENCE_OFFSET = 1000

_OPEN = text("status IN ('new', 'open', 'pending')")
_OPEN_UNASSIGNED = text("assignee_id IS NULL AND status IN ('new', 'open', 'pending')")
_OPEN_DUE = text("sla_next_due_at IS NOT NULL AND sla_breached_at IS NULL AND status IN ('new', 'open', 'pending')")
_OPEN_BREACHED = text("sla_breached_at IS NOT NULL AND status IN ('new', 'open', 'pending')")

ticket_tag = Table(
    "ticket_tag",
    db.metadata,
    Column("ticket_id", ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tag(db.Model):
    """A label agents put on tickets."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class Ticket(db.Model):
    """A customer's request, whatever channel it came in on."""

    __table_args__ = (
        # One index per console view, each ending in id for keyset pagination. On PostgreSQL they
        # carry the columns every list filters on (visible_to, not merged), so the capped view
        # counts are index-only scans instead of a heap fetch per counted ticket.
        Index("ix_ticket_status_id", "status", "id", postgresql_include=["team_id", "merged_into_id"]),
        Index("ix_ticket_assignee_status_id", "assignee_id", "status", "id",
              postgresql_include=["team_id", "merged_into_id"]),
        Index("ix_ticket_channel_status_id", "channel", "status", "id",
              postgresql_include=["team_id", "merged_into_id"]),
        Index("ix_ticket_team_status_id", "team_id", "status", "id"),
        Index("ix_ticket_updated_id", "updated_at", "id"),
        # The open views read newest first. With `status IN (3 values)` a (status, id) index
        # must gather and sort every open ticket; these partial indexes hand PostgreSQL the
        # rows already in id order, so a page costs the same with a large backlog.
        *(
            Index(name, *columns, postgresql_where=_OPEN, sqlite_where=_OPEN,
                  postgresql_include=["team_id", "merged_into_id"])
            for name, columns in (
                ("ix_ticket_open_id", ("id",)),
                ("ix_ticket_open_assignee_id", ("assignee_id", "id")),
                ("ix_ticket_open_channel_id", ("channel", "id")),
            )
        ),
        # "Breaching soon" and "Breached": small partial indexes over the few tickets concerned.
        Index("ix_ticket_open_due_id", "sla_next_due_at", "id", postgresql_where=_OPEN_DUE, sqlite_where=_OPEN_DUE),
        Index("ix_ticket_open_breached_id", "sla_breached_at", "id", postgresql_where=_OPEN_BREACHED,
              sqlite_where=_OPEN_BREACHED),
        Index("ix_ticket_open_unassigned_id", "id", postgresql_where=_OPEN_UNASSIGNED,
              sqlite_where=_OPEN_UNASSIGNED, postgresql_include=["team_id", "merged_into_id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(12), default="new")
    #: Index into PRIORITIES, so "sort by priority" is an indexable integer.
    priority_rank: Mapped[int] = mapped_column("priority", default=1)
    channel: Mapped[str] = mapped_column(String(12))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the customer last wrote and is waiting for an answer.
    last_customer_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ack_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The acknowledgement: None (not wanted), pending, sending, sent, skipped, or failed (gave up).
    ack_status: Mapped[str | None] = mapped_column(String(12), index=True)
    #: When a job claimed the acknowledgement, so a crashed sender's claim can expire.
    ack_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policy.id", ondelete="SET NULL"))
    #: The earliest due time of the clocks running now, for "Breaching soon".
    sla_next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the ticket first breached a target, for "Breached".
    sla_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Names of the SLA targets this ticket has breached.
    sla_breaches: Mapped[list] = mapped_column(JSON, default=list)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    #: The closed ticket a customer wrote back to, when this one follows it up.
    follow_up_of_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))

    customer: Mapped[Customer] = relationship(lazy="joined", innerjoin=True)
    assignee: Mapped[Agent | None] = relationship(lazy="joined")
    team: Mapped[Team | None] = relationship(lazy="joined")
    tags: Mapped[list[Tag]] = relationship(secondary=ticket_tag, order_by=Tag.name, lazy="selectin")
    messages: Mapped[list[Message]] = relationship(  # noqa: F821
        back_populates="ticket", order_by="Message.id", foreign_keys="Message.ticket_id"
    )
    merged_into: Mapped[Ticket | None] = relationship(remote_side=[id], foreign_keys=[merged_into_id])
    follow_up_of: Mapped[Ticket | None] = relationship(remote_side=[id], foreign_keys=[follow_up_of_id])

    @property
    def priority(self) -> str:
        """Return the priority's name."""
        return PRIORITIES[self.priority_rank]

    @priority.setter
    def priority(self, name: str) -> None:
        self.priority_rank = PRIORITIES.index(name)

    @property
    def reference(self) -> str:
        """Return the human-friendly reference, e.g. ``HD-1042``."""
        return format_reference(self.id)

    @property
    def is_open(self) -> bool:
        """Say whether the ticket still needs work."""
        return self.status in OPEN_STATUSES

    @classmethod
    def by_reference(cls, reference: str) -> Ticket | None:
        """Return the ticket a reference names, or None."""
        ticket_id = parse_reference(reference)
        return db.session.get(cls, ticket_id) if ticket_id else None


def _prefix() -> str:
    return current_app.config.get("REFERENCE_PREFIX", "HD")


def format_reference(ticket_id: int) -> str:
    """Return the reference of the ticket with ``ticket_id``."""
    return f"{_prefix()}-{ticket_id + REFERENCE_OFFSET}"


def parse_reference(reference: str) -> int | None:
    """Return the ticket id a reference names, or None when it is not one."""
    match = re.fullmatch(rf"{re.escape(_prefix())}-(\d{{1,12}})", (reference or "").strip(), re.I)
    if not match:
        return None
    number = int(match[1]) - REFERENCE_OFFSET
    return number if number > 0 else None
