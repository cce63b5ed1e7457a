"""What customers do by themselves: portal sign-in links, deflected requests, satisfaction ratings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.extensions import db
from helpdesk.models.base import UTCDateTime, utcnow
from helpdesk.models.customer import Customer
from helpdesk.models.ticket import Ticket


class PortalLoginToken(db.Model):
    """A sign-in link emailed to a customer: single use, short-lived, stored only as a hash."""

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the secret in the link; the secret itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Set by the one request that signed in with it.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship()


class Deflection(db.Model):
    """A request the knowledge base answered: a suggested article opened from the contact form."""

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The knowledge base article, when known; no foreign key, so articles can be deleted freely.
    article_id: Mapped[int | None] = mapped_column(Integer)
    #: What the customer had typed in the subject.
    query: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SatisfactionRating(db.Model):
    """How the customer rated the handling of a solved ticket, 1 (bad) to 5 (great)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship()
    customer: Mapped[Customer] = relationship()
