"""Jobs of the chat channel: the accept time-out and the emailed transcript."""

from __future__ import annotations

from helpdesk.channels.chat import lifecycle, transcript
from helpdesk.channels.email import outbound, smtp
from helpdesk.extensions import db
from helpdesk.models import Conversation
from workers.app import get_app


def accept_timeout(conversation_id: int) -> str:
    """Turn the chat offline if nobody accepted it in time; a no-op once accepted or re-offered."""
    with get_app().app_context():
        result = lifecycle.expire_offer(conversation_id)
        db.session.commit()
        return result


def send_transcript(conversation_id: int, up_to: int) -> str:
    """Email the visitor the chat's public messages up to message ``up_to``."""
    with get_app().app_context():
        conversation = db.session.get(Conversation, conversation_id)
        if conversation is None:
            return "no conversation"
        try:
            email = transcript.build(conversation, up_to)
        except outbound.Undeliverable as exc:
            return f"undeliverable: {exc}"
        smtp.send(email, [str(email["To"])])
        return "sent"
