"""The acknowledgement: the email that promises a reply by a named date, sent at most once per ticket.

The promised date is exactly the ticket's ``first_response_due_at``. A job
claims the ticket with a conditional UPDATE before sending, so two workers
(or a worker and the sweep) never both send; a claim left by a crashed job
expires after CLAIM_SECONDS and the sweep sends it then.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import or_, select, update

from helpdesk.channels.email import loops, outbound, smtp
from helpdesk.channels.email.ids import make_message_id
from helpdesk.extensions import db
from helpdesk.models import AckTemplate, Message, Ticket
from helpdesk.models.base import utcnow
from helpdesk.portal.links import ticket_url
from helpdesk.tickets.events import record
from workers.queues import enqueue

log = logging.getLogger(__name__)

CLAIM_SECONDS = 120
#: Sending attempts (jobs, retries and sweeps together) before the acknowledgement is marked failed.
MAX_ATTEMPTS = 8
CLIENT_ID = "acknowledgement"  #: unique per ticket (Message.ticket_id + client_id)

DEFAULTS = {
    "en": (
        "We received your request [{reference}]: {subject}",
        "Hello {name},\n\nThank you for writing to us. Your request has the reference {reference}.\n\n"
        "We will reply within {business_days} business days, by {due}.\n\n"
        "Follow your request here: {portal_url}\n\n"
        "To add anything, reply to this email and keep {reference} in the subject.\n",
    ),
    "fr": (
        "Nous avons bien reçu votre demande [{reference}] : {subject}",
        "Bonjour {name},\n\nMerci de nous avoir écrit. Votre demande porte la référence {reference}.\n\n"
        "Nous vous répondrons sous {business_days} jours ouvrés, au plus tard le {due}.\n\n"
        "Suivez votre demande ici : {portal_url}\n\n"
        "Pour ajouter quelque chose, répondez à ce message en gardant {reference} dans l'objet.\n",
    ),
}
PLACEHOLDERS = ("reference", "subject", "name", "due", "business_days", "portal_url")


def queue_acknowledgement(ticket_id: int) -> None:
    """Queue a job that sends the owed acknowledgements (after the commit that created the ticket).

    One job per tenth of a second, whatever the number of new tickets in it:
    under a burst the acknowledgements go out in batches on one SMTP
    connection instead of a job each.
    """
    bucket = int(time.time() * 10)
    try:
        enqueue("workers.sla.send_acknowledgements", queue_name="sla", job_id=f"ack-{bucket}")
    except RedisError:
        log.warning("could not queue the acknowledgement of ticket %s; the sweep will send it", ticket_id)


def template_for(language: str) -> tuple[str, str]:
    """Return (subject, body) for ``language``: an admin's edit, else the built-in text, else English."""
    language = (language or "en").split("-")[0].lower()
    row = db.session.scalar(select(AckTemplate).where(AckTemplate.language == language))
    if row is not None:
        return row.subject, row.body
    return DEFAULTS.get(language, DEFAULTS["en"])


def fill(text: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders we know; leave anything else as written."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m[1], m[0])), text)


def format_due(ticket: Ticket) -> str:
    """Return the promised time in the customer's zone and language, e.g. 'Wednesday 25 November 2026, 17:00 EST'."""
    zone = ZoneInfo(ticket.customer.timezone or current_app.config["TIMEZONE"])
    return format_datetime(ticket.first_response_due_at, "EEEE d MMMM y, HH:mm zzz", tzinfo=zone,
                           locale=ticket.customer.language or "en")


def _claim(ticket_id: int) -> bool:
    now = utcnow()
    claimed = db.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, or_(
            Ticket.ack_status == "pending",
            (Ticket.ack_status == "sending") & (Ticket.ack_claimed_at < now - timedelta(seconds=CLAIM_SECONDS)),
        ))
        .values(ack_status="sending", ack_claimed_at=now)
    ).rowcount
    db.session.commit()
    return bool(claimed)


def _skip(ticket: Ticket, reason: str) -> str:
    ticket.ack_status = "skipped"
    record(ticket, "acknowledgement_skipped", None, reason=reason)
    db.session.commit()
    return f"skipped: {reason}"


def _message(ticket: Ticket, body: str) -> Message:
    message = db.session.scalar(select(Message).where(Message.ticket_id == ticket.id, Message.client_id == CLIENT_ID))
    if message is None:
        message = Message(ticket=ticket, author_type="system", channel="email", body_text=body,
                          client_id=CLIENT_ID, delivery_status="pending", meta={"kind": "acknowledgement"})
        db.session.add(message)
        db.session.flush()
        message.external_id = make_message_id(message.id)
    return message


def _release(ticket_id: int) -> None:
    """Give back a claim whose job failed before sending, so a retry or the next sweep sends at once."""
    db.session.rollback()
    try:
        db.session.execute(update(Ticket).where(Ticket.id == ticket_id, Ticket.ack_status == "sending")
                           .values(ack_status="pending", ack_claimed_at=None))
        db.session.commit()
    except Exception:  # the database is down too: the claim expires after CLAIM_SECONDS instead
        db.session.rollback()
        log.warning("could not release the acknowledgement claim of ticket %s", ticket_id)


def _prepare(ticket_id: int) -> tuple[Ticket, Message, object, str] | str:
    """Build the claimed ticket's acknowledgement; return (ticket, message, email, address) or why it is skipped."""
    ticket = db.session.get(Ticket, ticket_id)
    try:
        address = outbound.recipient(ticket)
    except outbound.Undeliverable as exc:
        return _skip(ticket, str(exc))
    if address in loops.own_addresses():
        return _skip(ticket, "our own address")
    if ticket.first_response_due_at is None:
        return _skip(ticket, "no first-response target in this ticket's SLA policy")
    if not loops.take_auto_mail_budget(address):
        return _skip(ticket, f"more than {loops.AUTO_MAIL_PER_HOUR} automatic mails to {address} this hour")
    subject, body = template_for(ticket.customer.language)
    values = {
        "reference": ticket.reference, "subject": outbound.one_line(ticket.subject),
        "name": ticket.customer.name or address, "due": format_due(ticket),
        "business_days": str(current_app.config["ACK_BUSINESS_DAYS"]), "portal_url": ticket_url(ticket),
    }
    message = _message(ticket, fill(body, values))
    db.session.commit()
    email = outbound.build(message, subject=fill(subject, values), extra_headers={
        "Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All", "Precedence": "auto_reply",
    })
    return ticket, message, email, address


def send(ticket_id: int) -> str:
    """Send the ticket's acknowledgement if it is still owed; return what happened."""
    if not _claim(ticket_id):
        return "not owed"
    try:
        prepared = _prepare(ticket_id)
    except Exception:
        # Nothing was sent (a Redis restart fails the budget check, say): without
        # the release the claim would hold the acknowledgement back CLAIM_SECONDS.
        _release(ticket_id)
        raise
    if isinstance(prepared, str):
        return prepared
    ticket, message, email, address = prepared
    try:
        smtp.send(email, [address])
    except Exception as exc:
        attempts = (message.meta or {}).get("attempts", 0) + 1
        message.meta = {**(message.meta or {}), "attempts": attempts}
        message.delivery_error = f"{type(exc).__name__}: {exc}"[:1000]
        if attempts >= MAX_ATTEMPTS:
            # Give up and show it: an agent can retry from the ticket once the mail server is fixed.
            ticket.ack_status, message.delivery_status = "failed", "failed"
            record(ticket, "acknowledgement_failed", None, error=message.delivery_error, attempts=attempts)
        else:
            ticket.ack_status, ticket.ack_claimed_at = "pending", None
        db.session.commit()
        raise
    now = utcnow()
    message.delivery_status, message.delivery_error = "sent", None
    ticket.ack_status, ticket.ack_sent_at = "sent", now
    record(ticket, "acknowledged", None, to=address, promised=ticket.first_response_due_at.isoformat())
    db.session.commit()
    return "sent"


def send_owed(limit: int = 500) -> dict[str, int]:
    """Send every owed acknowledgement (up to ``limit``); a failure is logged and left to a retry."""
    counts = {"acknowledgements": 0, "acknowledgement_failures": 0}
    for ticket_id in owed(limit=limit):
        try:
            if send(ticket_id) == "sent":
                counts["acknowledgements"] += 1
        except Exception as exc:
            db.session.rollback()
            counts["acknowledgement_failures"] += 1
            log.warning("acknowledgement of ticket %s failed: %s", ticket_id, exc)
    return counts


def owed(now=None, limit: int = 500) -> list[int]:
    """Return tickets whose acknowledgement is owed and not being sent (for the sweep)."""
    now = now or utcnow()
    stale = now - timedelta(seconds=CLAIM_SECONDS)
    return list(db.session.scalars(
        select(Ticket.id).where(or_(
            Ticket.ack_status == "pending",
            (Ticket.ack_status == "sending") & (Ticket.ack_claimed_at < stale),
        )).order_by(Ticket.id).limit(limit)
    ))
