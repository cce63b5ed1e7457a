"""Turn an agent's reply into an email that threads in the customer's mail program."""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from flask import current_app
from sqlalchemy import select

from helpdesk import storage
from helpdesk.channels.email.ids import make_message_id
from helpdesk.extensions import db
from helpdesk.models import Message, Ticket

#: References kept in full; longer chains keep the first and the newest.
MAX_REFERENCES = 20


class Undeliverable(ValueError):
    """A message that cannot be emailed (no usable address): retrying will not help."""


def one_line(value: str) -> str:
    """Return ``value`` with CR, LF and other control characters replaced, so it cannot inject a header."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", value or "").strip()


def recipient(ticket: Ticket) -> str:
    """Return the address replies on ``ticket`` go to: the customer's first deliverable email."""
    for identity in ticket.customer.identities:
        if identity.kind == "email" and not identity.undeliverable:
            return identity.value
    raise Undeliverable(f"{ticket.customer.display_name} has no deliverable email address")


def subject_for(ticket: Ticket, prefix: str = "Re: ") -> str:
    """Return the subject with the reference in it, e.g. ``Re: Broken printer [HD-1042]``."""
    subject = one_line(ticket.subject)
    tag = f"[{ticket.reference}]"
    if tag.lower() not in subject.lower():
        subject = f"{subject} {tag}"
    if prefix and not subject.lower().startswith(prefix.strip().lower()):
        subject = prefix + subject
    return subject


def thread_headers(ticket: Ticket, before_id: int | None = None) -> tuple[str | None, list[str]]:
    """Return (In-Reply-To, References) for a new message on ``ticket``."""
    query = select(Message.external_id, Message.author_type).where(
        Message.ticket_id == ticket.id, Message.external_id.isnot(None), Message.internal.is_(False)
    )
    if before_id is not None:
        query = query.where(Message.id < before_id)
    rows = [(e, a) for e, a in db.session.execute(query.order_by(Message.id)) if not e.startswith("sha256:")]
    chain = [e for e, _ in rows]
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1):]
    customer_ids = [e for e, a in rows if a == "customer"]
    in_reply_to = customer_ids[-1] if customer_ids else (chain[-1] if chain else None)
    return in_reply_to, chain


def build(message: Message, *, subject: str | None = None, extra_headers: dict | None = None) -> EmailMessage:
    """Return the email for ``message`` (an agent reply or an automatic mail)."""
    ticket = message.ticket
    support = current_app.config["SUPPORT_ADDRESS"]
    sender_name = one_line(message.author_agent.name if message.author_agent else "Support")
    email = EmailMessage()
    email["From"] = formataddr((sender_name, support))
    email["To"] = Address(addr_spec=recipient(ticket))
    email["Reply-To"] = support
    email["Subject"] = one_line(subject) if subject else subject_for(ticket)
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = f"<{message.external_id or make_message_id(message.id)}>"
    in_reply_to, references = thread_headers(ticket, before_id=message.id)
    if in_reply_to:
        email["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        email["References"] = " ".join(f"<{r}>" for r in references)
    for name, value in (extra_headers or {}).items():
        email[name] = one_line(value)
    email.set_content(message.body_text or "")
    if message.body_html:
        email.add_alternative(f"<!doctype html><html><body>{message.body_html}</body></html>", subtype="html")
    for item in message.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        email.add_attachment(
            storage.load(item.sha256), maintype=maintype or "application", subtype=subtype or "octet-stream",
            filename=one_line(item.filename),
        )
    return email
