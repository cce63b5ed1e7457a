"""The chat transcript a visitor asks for by email."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from helpdesk.channels.chat.protocol import ChatError
from helpdesk.channels.email import outbound
from helpdesk.extensions import db
from helpdesk.models import Conversation, Message
from helpdesk.models.base import utcnow


def request_transcript(conversation: Conversation) -> None:
    """Queue the transcript email; asking again before anything new was said sends nothing more."""
    from workers.queues import enqueue, redis_connection

    if not conversation.customer.email:
        raise ChatError("no_email", "give an email address (start with email) to receive a transcript")
    last = db.session.scalar(select(func.max(Message.id)).where(Message.ticket_id == conversation.ticket_id)) or 0
    if redis_connection().set(f"helpdesk:chat:transcript:{conversation.id}:{last}", 1, nx=True, ex=24 * 3600):
        enqueue("workers.chat.send_transcript", conversation.id, last, queue_name="mail",
                job_id=f"transcript-{conversation.id}-{last}")


def build(conversation: Conversation, up_to: int) -> EmailMessage:
    """Return the transcript email of the conversation's public messages up to message ``up_to``."""
    ticket = conversation.ticket
    rows = db.session.scalars(
        select(Message).where(Message.ticket_id == ticket.id, Message.id <= up_to, Message.internal.is_(False),
                              Message.author_type.in_(("customer", "agent"))).order_by(Message.id)
    )
    zone = ZoneInfo(ticket.customer.timezone or current_app.config["TIMEZONE"])
    lines = [f"Your chat with us, reference {ticket.reference}.", ""]
    for message in rows:
        stamp = message.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        lines += [f"[{stamp}] {message.author_name}:", message.body_text, ""]
    lines += ["To add anything, reply to this email and keep the reference in the subject."]
    email = EmailMessage()
    email["From"] = formataddr(("Support", current_app.config["SUPPORT_ADDRESS"]))
    email["To"] = outbound.recipient(ticket)
    email["Reply-To"] = current_app.config["SUPPORT_ADDRESS"]
    email["Subject"] = outbound.one_line(f"Transcript of your chat [{ticket.reference}]: {ticket.subject}")
    email["Date"] = utcnow()
    email["Auto-Submitted"] = "auto-generated"
    email.set_content("\n".join(lines))
    return email
