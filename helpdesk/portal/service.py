"""What customers do to their own tickets in the portal, through the ticket service."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk import tickets
from helpdesk.extensions import db
from helpdesk.models import Attachment, Customer, Message, Ticket
from helpdesk.tickets.events import record

#: Statuses a customer may close from.
CLOSABLE = ("new", "open", "pending")


def customer_tickets(customer: Customer) -> list[Ticket]:
    """Return the customer's tickets from every channel, most recently updated first."""
    return list(db.session.scalars(
        select(Ticket).where(Ticket.customer_id == customer.id, Ticket.merged_into_id.is_(None))
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    ))


def public_messages(ticket: Ticket) -> list[Message]:
    """Return what the customer may read on ``ticket``: never internal notes."""
    return list(db.session.scalars(
        select(Message).where(Message.ticket_id == ticket.id, Message.internal.is_(False)).order_by(Message.id)
    ))


def visible_attachment(attachment_id: int, may_open) -> Attachment | None:
    """Return the attachment if it is on a public message of a ticket ``may_open`` allows, else None."""
    item = db.session.get(Attachment, attachment_id)
    if item is None or item.message.internal or not may_open(item.message.ticket):
        return None
    return item


def contact_of(customer: Customer) -> tickets.Contact:
    """Return the identity the ticket service knows ``customer`` by."""
    return tickets.Contact(email=customer.email, phone=None if customer.email else customer.phone,
                           visitor=None if customer.email or customer.phone else _visitor(customer))


def _visitor(customer: Customer) -> str | None:
    return next((i.value for i in customer.identities if i.kind == "visitor"), None)


def reply(ticket: Ticket, body: str, files: list[tickets.IncomingFile]) -> tickets.Received:
    """Add the customer's reply to ``ticket`` (reopening it when solved); the caller commits."""
    return tickets.receive(tickets.Inbound(
        channel="web", contact=contact_of(ticket.customer), body_text=body, subject=ticket.subject,
        ticket_id=ticket.id, attachments=files, meta={"via": "portal"},
    ))


def close_by_customer(ticket: Ticket) -> None:
    """Mark ``ticket`` solved because its customer said so; the caller commits."""
    if ticket.status not in CLOSABLE:
        return
    record(ticket, "closed_by_customer", ticket.customer)
    tickets.set_status(ticket, "solved", None)
