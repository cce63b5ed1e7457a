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


def _threaded(ticket_ids: list[int]):
    return select(Message.ticket_id, Message.id, Message.external_id, Message.author_type).where(
        Message.ticket_id.in_(ticket_ids), Message.external_id.isnot(None), Message.internal.is_(False)
    ).order_by(Message.id)


def _headers(rows: list[tuple[str, str]]) -> tuple[str | None, list[str]]:
    """Return (In-Reply-To, References) after the thread's messages ``rows`` (external id, author type)."""
    rows = [(e, a) for e, a in rows if not e.startswith("sha256:")]
    chain = [e for e, _ in rows]
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1):]
    customer_ids = [e for e, a in rows if a == "customer"]
    in_reply_to = customer_ids[-1] if customer_ids else (chain[-1] if chain else None)
    return in_reply_to, chain


def thread_headers(ticket: Ticket, before_id: int | None = None) -> tuple[str | None, list[str]]:
    """Return (In-Reply-To, References) for a new message on ``ticket``."""
    rows = db.session.execute(_threaded([ticket.id])).all()
    return _headers([(e, a) for _, id_, e, a in rows if before_id is None or id_ < before_id])


def thread_headers_of(messages: list[Message]) -> dict[int, tuple[str | None, list[str]]]:
    """Return (In-Reply-To, References) for each of ``messages`` by its id, with one query for all."""
    thread: dict[int, list[tuple[int, str, str]]] = {}
    for ticket_id, id_, external_id, author in db.session.execute(_threaded(sorted({m.ticket_id for m in messages}))):
        thread.setdefault(ticket_id, []).append((id_, external_id, author))
    return {m.id: _headers([(e, a) for id_, e, a in thread.get(m.ticket_id, []) if id_ < m.id]) for m in messages}


def build(message: Message, *, subject: str | None = None, extra_headers: dict | None = None,
          thread: tuple[str | None, list[str]] | None = None) -> EmailMessage:
    """Return the email for ``message`` (an agent reply or an automatic mail).

    ``thread``: its (In-Reply-To, References) when the caller has them (``thread_headers_of``).
    """
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
    in_reply_to, references = thread or thread_headers(ticket, before_id=message.id)
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
