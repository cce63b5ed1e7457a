"""Deliver an agent's reply on a chat ticket: live while the chat is on, by email otherwise."""

from __future__ import annotations

from sqlalchemy import update

from helpdesk import realtime
from helpdesk.channels.chat import payloads
from helpdesk.extensions import db
from helpdesk.models import Message


def deliver_chat_message(message_id: int) -> None:
    """Push the reply to the visitor's widget; email it when the chat is not active (offline, ended, none)."""
    from helpdesk.channels import deliver_by_email
    from helpdesk.channels.chat.service import for_ticket

    message = db.session.get(Message, message_id)
    if message is None or message.internal:
        return
    conversation = for_ticket(message.ticket_id)
    if conversation is not None:
        realtime.to_visitor(conversation.id, "message", payloads.message(message))
        if conversation.agent_id:
            realtime.to_agent(conversation.agent_id, "message", payloads.message(message, conversation.id))
    if conversation is not None and conversation.state == "active":
        db.session.execute(update(Message).where(Message.id == message_id, Message.delivery_status == "pending")
                           .values(delivery_status="sent"))
        db.session.commit()
    else:
        deliver_by_email(message_id)
