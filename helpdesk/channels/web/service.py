"""What the web channel does: hand a contact form to the ticket service, and ask the knowledge base."""

from __future__ import annotations

import logging

from helpdesk import tickets
from helpdesk.extensions import db
from helpdesk.models import Ticket

log = logging.getLogger(__name__)


def incoming_files(storages) -> list[tickets.IncomingFile]:
    """Return the uploaded files as the ticket service takes them."""
    return [
        tickets.IncomingFile(filename=item.filename or "attachment",
                             content_type=item.mimetype or "application/octet-stream", data=item.read())
        for item in storages or [] if getattr(item, "filename", "")
    ]


def submit(form, language: str) -> Ticket:
    """Open a ticket on the web channel from a valid contact form; the caller commits."""
    email = form.email.data.strip()
    known = tickets.find_customer("email", email)
    received = tickets.receive(tickets.Inbound(
        channel="web",
        contact=tickets.Contact(email=email, name=form.name.data.strip()),
        subject=form.subject.data.strip(),
        body_text=form.message.data,
        attachments=incoming_files(form.attachments.data),
        meta={"category": form.category.data, "form": "contact"},
        thread=False,
    ))
    ticket = received.ticket
    if known is None:
        ticket.customer.language = language
    tickets.set_tags(ticket, [*(t.name for t in ticket.tags), form.category.data])
    return ticket


def promised(ticket: Ticket) -> str | None:
    """Return the promised reply date as the acknowledgement states it, or None."""
    from helpdesk.sla.acknowledgement import format_due

    return format_due(ticket) if ticket.first_response_due_at else None


def _kb(name: str):
    """Return the knowledge base's function ``name``, or None while it is not there."""
    try:
        from helpdesk.kb import search
    except ImportError:
        return None
    return getattr(search, name, None)


def popular_articles(language: str, limit: int) -> list:
    """Return the most useful articles in ``language`` (nothing when the knowledge base is absent)."""
    function = _kb("popular_articles")
    if function is None:
        return []
    try:
        return list(function(language, limit))
    except Exception:  # the help centre must show even if the knowledge base fails
        log.exception("popular_articles failed")
        db.session.rollback()
        return []


def search_articles(query: str, language: str, limit: int) -> list:
    """Return articles matching ``query`` (nothing when the knowledge base is absent)."""
    function = _kb("search_articles")
    if function is None or not (query or "").strip():
        return []
    try:
        return list(function(query, language, limit))
    except Exception:
        log.exception("search_articles failed")
        db.session.rollback()
        return []


def record_deflection(article_id: str | None, query: str | None):
    """Count a request the knowledge base answered before it was written."""
    from helpdesk.models.selfservice import Deflection

    try:
        number = int(article_id) if article_id else None
    except ValueError:
        number = None
    if number is not None and not 0 < number < 2**31:
        number = None
    row = Deflection(article_id=number, query=(query or "").strip()[:300])
    db.session.add(row)
    return row
