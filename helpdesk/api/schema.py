"""Turn models into the JSON the API (and the live ``ticket`` event) returns, and check request bodies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import url_for

from helpdesk.models import Customer, Message, Ticket


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def iso(value: datetime | None) -> str | None:
    """Return ISO 8601 with an explicit offset, or None."""
    return value.isoformat() if value else None


def customer_json(customer: Customer) -> dict:
    """Return the customer summary embedded in tickets."""
    return {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
        "vip": customer.vip,
    }


def customer_detail_json(customer: Customer) -> dict:
    """Return the full customer, with every identity."""
    return {
        **customer_json(customer),
        "language": customer.language,
        "account_owner": customer.account_owner.email if customer.account_owner else None,
        "emails": [i.value for i in customer.identities if i.kind == "email"],
        "phones": [i.value for i in customer.identities if i.kind == "phone"],
        "created_at": iso(customer.created_at),
    }


def ticket_json(ticket: Ticket) -> dict:
    """Return a ticket as the API shows it."""
    return {
        "reference": ticket.reference,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "customer": customer_json(ticket.customer),
        "assignee": ticket.assignee.email if ticket.assignee else None,
        "team": ticket.team.name if ticket.team else None,
        "tags": [t.name for t in ticket.tags],
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "first_response_due_at": iso(ticket.first_response_due_at),
        "first_responded_at": iso(ticket.first_responded_at),
        "resolution_due_at": iso(ticket.resolution_due_at),
        "solved_at": iso(ticket.solved_at),
        "ack_sent_at": iso(ticket.ack_sent_at),
        "sla_breaches": list(ticket.sla_breaches or []),
    }


def message_json(message: Message) -> dict:
    """Return a message as the API shows it."""
    return {
        "id": message.id,
        "author_type": message.author_type,
        "author_name": message.author_name,
        "channel": message.channel,
        "internal": message.internal,
        "body_text": message.body_text,
        "body_html": message.body_html,
        "created_at": iso(message.created_at),
        "delivery_status": message.delivery_status,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "url": url_for("console.attachment", attachment_id=a.id, _external=True),
            }
            for a in message.attachments
        ],
    }


def check_body(body, fields: dict[str, Callable], required: tuple[str, ...] = ()) -> dict:
    """Return ``body`` with each field checked; raise ApiError on unknown, missing or bad fields."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the request body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
    missing = [name for name in required if body.get(name) in (None, "")]
    if missing:
        raise ApiError(400, "missing_field", f"required field(s) missing: {', '.join(missing)}")
    checked = {}
    for name, value in body.items():
        try:
            checked[name] = fields[name](value)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "invalid_value", f"{name}: {exc}") from None
    return checked


def one_of(*choices, nullable: bool = False) -> Callable:
    """Return a checker that accepts only ``choices``."""

    def check(value):
        if value is None and nullable:
            return None
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(map(str, choices))}")
        return value

    return check


def text(max_length: int, nullable: bool = False) -> Callable:
    """Return a checker for a string of at most ``max_length`` characters."""

    def check(value):
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return value

    return check


def boolean(value):
    """Accept only true or false."""
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def string_list(value):
    """Accept a list of strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 50 for v in value):
        raise ValueError("must be a list of strings of at most 50 characters")
    return value
