"""The JSON shapes of chat events and acknowledgements (docs/chat-protocol.md)."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk.api.schema import customer_json, iso
from helpdesk.extensions import db
from helpdesk.models import Conversation, Message
from helpdesk.tickets.appending import Appended

#: Most messages one history answer carries; ask again after the last id for more.
HISTORY_LIMIT = 500


def message(item: Message | Appended, conversation_id: int | None = None) -> dict:
    """Return a message as chat clients see it; with ``conversation_id`` for agents."""
    data = {
        "id": item.id,
        "author_type": item.author_type,
        "author_name": item.author_name,
        "body": item.body_text,
        "created_at": iso(item.created_at),
    }
    if conversation_id is not None:
        data["conversation_id"] = conversation_id
        data["internal"] = item.internal
    return data


def acknowledgement(item: Message | Appended) -> dict:
    """Return the ack of a stored message; build it before the commit, which expires the row."""
    return {"id": item.id, "created_at": iso(item.created_at)}


def history(conversation: Conversation, after_id: int | None, for_agent: bool = False) -> list[dict]:
    """Return the conversation's messages after ``after_id``, oldest first.

    Visitors see what customers and agents wrote on the ticket (chat or email);
    agents also see internal notes and system messages.
    """
    query = select(Message).where(Message.ticket_id == conversation.ticket_id)
    if not for_agent:
        query = query.where(Message.internal.is_(False), Message.author_type.in_(("customer", "agent")))
    if after_id is not None:
        query = query.where(Message.id > after_id)
    rows = db.session.scalars(query.order_by(Message.id).limit(HISTORY_LIMIT))
    return [message(m, conversation.id if for_agent else None) for m in rows]


def request(conversation: Conversation, first: Message | None, transfer_from: str | None = None) -> dict:
    """Return the ``chat_request`` an agent is offered."""
    data = {
        "conversation_id": conversation.id,
        "ticket_reference": conversation.ticket.reference,
        "customer": customer_json(conversation.customer),
        "message": message(first, conversation.id) if first is not None else None,
        "subject": conversation.ticket.subject,
    }
    if transfer_from:
        data["transfer_from"] = transfer_from
    return data


def state(conversation: Conversation) -> dict:
    """Return the ``chat_state`` agents receive when a chat changes state or hands."""
    return {
        "conversation_id": conversation.id,
        "ticket_reference": conversation.ticket.reference,
        "state": conversation.state,
        "agent": conversation.agent.email if conversation.agent else None,
    }
