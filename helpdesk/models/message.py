"""Messages on a ticket and the files attached to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.extensions import db
from helpdesk.models.agent import Agent
from helpdesk.models.base import UTCDateTime, utcnow
from helpdesk.models.customer import Customer
from helpdesk.models.ticket import Ticket

AUTHOR_TYPES = ("customer", "agent", "system")
DELIVERY_STATES = ("pending", "sent", "failed")


class Message(db.Model):
    """One article of a ticket's conversation: a customer's words, a reply or a note."""

    __table_args__ = (
        Index("ix_message_ticket_id", "ticket_id", "id"),
        UniqueConstraint("ticket_id", "client_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    author_type: Mapped[str] = mapped_column(String(12))
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    author_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(12))
    #: An internal note: never shown or sent to the customer.
    internal: Mapped[bool] = mapped_column(default=False)
    body_text: Mapped[str] = mapped_column(Text, default="")
    #: Sanitised with nh3; None when the source had no HTML.
    body_html: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The RFC 5322 Message-ID (or its hash) that makes intake idempotent.
    external_id: Mapped[str | None] = mapped_column(String(998), unique=True)
    #: The sending client's id for chat messages, stored once per ticket.
    client_id: Mapped[str | None] = mapped_column(String(64))
    #: Outbound delivery: None for messages that are not sent anywhere.
    delivery_status: Mapped[str | None] = mapped_column(String(12))
    delivery_error: Mapped[str | None] = mapped_column(String(1000))
    #: Decisions recorded while handling the message ("threaded by References").
    meta: Mapped[dict] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="messages", foreign_keys=[ticket_id])
    author_agent: Mapped[Agent | None] = relationship()
    author_customer: Mapped[Customer | None] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", cascade="all, delete-orphan", order_by="Attachment.id", lazy="selectin"
    )

    @property
    def author_name(self) -> str:
        """Return who wrote this, as shown beside it."""
        if self.author_agent:
            return self.author_agent.name
        if self.author_customer:
            return self.author_customer.display_name
        return "System"


class Attachment(db.Model):
    """A file on a message; the bytes live on disk under their SHA-256."""

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    #: The Content-ID an HTML body refers to with ``cid:``, for inline images.
    content_id: Mapped[str | None] = mapped_column(String(255))
    inline: Mapped[bool] = mapped_column(default=False)

    message: Mapped[Message] = relationship(back_populates="attachments")
