"""Customers and the identities (addresses, numbers, visitor ids) that find them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.extensions import db
from helpdesk.models.agent import Agent
from helpdesk.models.base import UTCDateTime, utcnow

IDENTITY_KINDS = ("email", "phone", "visitor")


class Customer(db.Model):
    """Someone who asks for help, on any channel."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    #: A "gold client": tighter SLA targets and a badge everywhere.
    vip: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str] = mapped_column(String(8), default="en")
    #: IANA zone for dates in emails; None means the desk's zone.
    timezone: Mapped[str | None] = mapped_column(String(64))
    #: The one agent who coordinates all contact with this customer.
    account_owner_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    notes: Mapped[str] = mapped_column(String(4000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account_owner: Mapped[Agent | None] = relationship()
    identities: Mapped[list[CustomerIdentity]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerIdentity.id", lazy="selectin"
    )

    def _first(self, kind: str) -> str | None:
        return next((i.value for i in self.identities if i.kind == kind), None)

    @property
    def email(self) -> str | None:
        """Return the first email address, the one replies go to."""
        return self._first("email")

    @property
    def phone(self) -> str | None:
        """Return the first phone number, in E.164."""
        return self._first("phone")

    @property
    def display_name(self) -> str:
        """Return the name, or failing that an address or number."""
        return self.name or self.email or self.phone or f"Customer {self.id}"


class CustomerIdentity(db.Model):
    """One way to recognise a customer: an email, a phone number or a visitor id."""

    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: Normalised: lower-case email, E.164 phone number.
    value: Mapped[str] = mapped_column(String(254))
    #: Set when mail to this address bounced.
    undeliverable: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="identities")
