"""Jobs that send email."""

from __future__ import annotations

import logging

from rq import get_current_job

from helpdesk.channels.email import outbound, smtp
from helpdesk.channels.email.ids import make_message_id
from helpdesk.extensions import db
from helpdesk.models import Message
from helpdesk.models.base import utcnow
from workers.app import get_app

log = logging.getLogger(__name__)


def _final_attempt() -> bool:
    job = get_current_job()
    return job is None or not job.retries_left


def send_message(message_id: int) -> str:
    """Email an agent's public reply to the customer; idempotent once sent."""
    with get_app().app_context():
        message = db.session.get(Message, message_id)
        if message is None or message.internal or message.delivery_status == "sent":
            return "nothing to send"
        if message.external_id is None:
            message.external_id = make_message_id(message.id)
            db.session.commit()
        try:
            email = outbound.build(message)
            smtp.send(email, [email["To"].addresses[0].addr_spec])
        except outbound.Undeliverable as exc:
            message.delivery_status, message.delivery_error = "failed", str(exc)
            db.session.commit()
            return f"undeliverable: {exc}"
        except Exception as exc:
            final = _final_attempt()
            message.delivery_status = "failed" if final else "pending"
            message.delivery_error = f"{type(exc).__name__}: {exc}"[:1000]
            db.session.commit()
            log.warning("sending message %s failed (%s)%s", message_id, exc, "" if final else "; will retry")
            raise
        message.delivery_status, message.delivery_error = "sent", None
        message.meta = {**(message.meta or {}), "sent_at": utcnow().isoformat()}
        db.session.commit()
        return "sent"


def send_breach_notice(ticket_id: int, target: str) -> str:
    """Email the assignee (or, unassigned, the team) that a ticket breached its SLA."""
    from email.message import EmailMessage

    from flask import current_app

    from helpdesk.models import Ticket

    with get_app().app_context():
        ticket = db.session.get(Ticket, ticket_id)
        if ticket is None:
            return "no ticket"
        if ticket.assignee is not None:
            recipients = [ticket.assignee.email]
        elif ticket.team is not None:
            recipients = [a.email for a in ticket.team.members if a.active]
        else:
            return "nobody to notify"
        if not recipients:
            return "nobody to notify"
        config = current_app.config
        email = EmailMessage()
        email["From"] = config["SUPPORT_ADDRESS"]
        email["To"] = ", ".join(recipients)
        email["Subject"] = outbound.one_line(
            f"SLA breach: {ticket.reference} {target.replace('_', ' ')} overdue: {ticket.subject}")
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(
            f"{ticket.reference} ({ticket.subject}) breached its {target.replace('_', ' ')} target.\n\n"
            f"Open it: {config['BASE_URL']}/console/tickets/{ticket.reference}\n")
        smtp.send(email, recipients)
        return "sent"
