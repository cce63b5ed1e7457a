"""Deliver an agent's reply on a chat ticket."""

from __future__ import annotations

from helpdesk import realtime
from helpdesk.extensions import db
from helpdesk.models import Message


def deliver_chat_message(message_id: int) -> None:
    """Send the message to the ticket's chat room; email it when nobody is there."""
    message = db.session.get(Message, message_id)
    if message is None:
        return
    realtime.emit(
        "message",
        {
            "id": message.id,
            "author_type": message.author_type,
            "author_name": message.author_name,
            "body": message.body_text,
            "created_at": message.created_at.isoformat(),
        },
        to=realtime.conversation_room(message.ticket_id),
        namespace=realtime.CHAT_NS,
    )
