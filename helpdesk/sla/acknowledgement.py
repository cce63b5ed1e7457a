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
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import or_, select, update
from sqlalchemy.orm import selectinload

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
#: Acknowledgements claimed, prepared and committed together.
BATCH = 100
#: Sent acknowledgements are committed at least this often (see _send_claimed).
COMMIT_EVERY = 10

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


def template_for(language: str, edited: dict[str, tuple[str, str]] | None = None) -> tuple[str, str]:
    """Return (subject, body) for ``language``: an admin's edit, else the built-in text, else English.

    ``edited``: the admins' templates by language, when the caller loaded them already.
    """
    language = (language or "en").split("-")[0].lower()
    if edited is None:
        edited = {row.language: (row.subject, row.body)
                  for row in db.session.scalars(select(AckTemplate).where(AckTemplate.language == language))}
    return edited.get(language) or DEFAULTS.get(language, DEFAULTS["en"])


def fill(text: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders we know; leave anything else as written."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m[1], m[0])), text)


def format_due(ticket: Ticket) -> str:
    """Return the promised time in the customer's zone and language, e.g. 'Wednesday 25 November 2026, 17:00 EST'."""
    zone = ZoneInfo(ticket.customer.timezone or current_app.config["TIMEZONE"])
    return format_datetime(ticket.first_response_due_at, "EEEE d MMMM y, HH:mm zzz", tzinfo=zone,
                           locale=ticket.customer.language or "en")


def _owed_condition(now):
    stale = now - timedelta(seconds=CLAIM_SECONDS)
    return or_(Ticket.ack_status == "pending", (Ticket.ack_status == "sending") & (Ticket.ack_claimed_at < stale))


def _claim(ticket_id: int | None = None, limit: int = BATCH, after: int = 0) -> list[int]:
    """Claim owed acknowledgements (one ticket's, or up to ``limit`` above id ``after``); return the ids.

    One UPDATE ... RETURNING; rows another worker is claiming are skipped, not
    waited for, so two workers drain the queue in disjoint batches. The claim
    commits together with the prepared messages (``_prepare``), before any is
    sent; should preparing fail, the rollback gives the claims back.
    """
    now = utcnow()
    owed_now = _owed_condition(now)
    if ticket_id is not None:
        owed_now = owed_now & (Ticket.id == ticket_id)
    if after:
        owed_now = owed_now & (Ticket.id > after)
    # Lock, then update: "id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)" in one statement may
    # be re-run per row by PostgreSQL (skipping the rows it just updated) and claim more than n.
    picked = db.session.scalars(select(Ticket.id).where(owed_now).order_by(Ticket.id).limit(limit)
                                .with_for_update(skip_locked=True)).all()
    if not picked:
        return []
    claimed = sorted(db.session.scalars(
        update(Ticket).where(Ticket.id.in_(picked), owed_now)
        .values(ack_status="sending", ack_claimed_at=now)
        .returning(Ticket.id).execution_options(synchronize_session=False)
    ))
    return claimed


def _skip(ticket: Ticket, reason: str) -> str:
    ticket.ack_status = "skipped"
    record(ticket, "acknowledgement_skipped", None, reason=reason)
    return f"skipped: {reason}"


def _why_not(ticket: Ticket) -> tuple[str | None, str | None]:
    """Return (address, None) when the ticket may be acknowledged, else (None, why not)."""
    try:
        address = outbound.recipient(ticket)
    except outbound.Undeliverable as exc:
        return None, str(exc)
    if address in loops.own_addresses():
        return None, "our own address"
    if ticket.first_response_due_at is None:
        return None, "no first-response target in this ticket's SLA policy"
    return address, None


def _templates() -> dict[str, tuple[str, str]]:
    return {row.language: (row.subject, row.body) for row in db.session.scalars(select(AckTemplate))}


def _prepare(ticket_ids: list[int]) -> tuple[list[tuple[Ticket, Message, EmailMessage, str]], dict[int, str]]:
    """Build the claimed tickets' acknowledgements and commit them as pending messages, with the claims.

    Return (ready: (ticket, message, email, address) each, outcomes of the
    skipped ones). One query loads the tickets with their customers, one
    finds messages left by an earlier attempt, one Redis round trip takes
    the auto-mail budgets, one flush stores the new messages, one query
    finds what they answer.
    """
    # populate_existing: the claim's UPDATE changed these rows behind any copy the session holds
    tickets = db.session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)).order_by(Ticket.id)
                                 .execution_options(populate_existing=True)).all()
    outcomes: dict[int, str] = {}
    candidates = []
    for ticket in tickets:
        address, why_not = _why_not(ticket)
        if why_not:
            outcomes[ticket.id] = _skip(ticket, why_not)
        else:
            candidates.append((ticket, address))
    within = loops.take_auto_mail_budgets([address for _, address in candidates])
    earlier = {m.ticket_id: m for m in db.session.scalars(select(Message).options(selectinload(Message.attachments))
                                                          .where(Message.ticket_id.in_([t.id for t, _ in candidates]),
                                                                 Message.client_id == CLIENT_ID))}
    templates = _templates()
    drafts = []
    for (ticket, address), allowed in zip(candidates, within, strict=True):
        if not allowed:
            outcomes[ticket.id] = _skip(ticket, f"more than {loops.AUTO_MAIL_PER_HOUR} automatic mails to "
                                                f"{address} this hour")
            continue
        subject, body = template_for(ticket.customer.language, templates)
        values = {
            "reference": ticket.reference, "subject": outbound.one_line(ticket.subject),
            "name": ticket.customer.name or address, "due": format_due(ticket),
            "business_days": str(current_app.config["ACK_BUSINESS_DAYS"]), "portal_url": ticket_url(ticket),
        }
        message = earlier.get(ticket.id)
        if message is None:
            message = Message(ticket=ticket, author_type="system", channel="email", body_text=fill(body, values),
                              client_id=CLIENT_ID, delivery_status="pending", meta={"kind": "acknowledgement"},
                              attachments=[])
            db.session.add(message)
        drafts.append((ticket, message, fill(subject, values), address))
    db.session.flush()
    for _, message, _, _ in drafts:
        message.external_id = message.external_id or make_message_id(message.id)
    threads = outbound.thread_headers_of([message for _, message, _, _ in drafts])
    ready = [(ticket, message, outbound.build(message, subject=subject, thread=threads[message.id], extra_headers={
        "Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All", "Precedence": "auto_reply",
    }), address) for ticket, message, subject, address in drafts]
    db.session.commit()
    return ready, outcomes


def _failed(ticket: Ticket, message: Message, exc: Exception) -> None:
    attempts = (message.meta or {}).get("attempts", 0) + 1
    message.meta = {**(message.meta or {}), "attempts": attempts}
    message.delivery_error = f"{type(exc).__name__}: {exc}"[:1000]
    if attempts >= MAX_ATTEMPTS:
        # Give up and show it: an agent can retry from the ticket once the mail server is fixed.
        ticket.ack_status, message.delivery_status = "failed", "failed"
        record(ticket, "acknowledgement_failed", None, error=message.delivery_error, attempts=attempts)
    else:
        ticket.ack_status, ticket.ack_claimed_at = "pending", None


def _send_claimed(ticket_ids: list[int]) -> dict[int, str | Exception]:
    """Send the claimed tickets' acknowledgements on one SMTP connection; return each outcome.

    What was sent is committed every COMMIT_EVERY mails (a worker killed
    between the SMTP server's acceptance and that commit would send those
    again once their claims expire: the window is kept to a few mails). A
    failure before anything is sent rolls the claims back and raises.
    """
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        return _send_drafts(ticket_ids)
    finally:
        session.expire_on_commit = expire


def _send_drafts(ticket_ids: list[int]) -> dict[int, str | Exception]:
    # Runs with expire_on_commit off: the claimed rows are ours until their claim
    # ends, and reloading each ticket and message after every commit was most of
    # what an acknowledgement cost.
    try:
        drafts, outcomes = _prepare(ticket_ids)
    except Exception:
        # Nothing was sent (a Redis restart fails the budget check, say): the rollback
        # gives the claims back, so a retry or the next sweep sends at once.
        db.session.rollback()
        raise
    results: dict[int, str | Exception] = dict(outcomes)
    with db.session.no_autoflush:  # changes go out with the commits below, not one flush per mail
        for n, (ticket, message, email, address) in enumerate(drafts, start=1):
            try:
                smtp.send(email, [address])
            except Exception as exc:
                _failed(ticket, message, exc)
                results[ticket.id] = exc
            else:
                message.delivery_status, message.delivery_error = "sent", None
                ticket.ack_status, ticket.ack_sent_at = "sent", utcnow()
                record(ticket, "acknowledged", None, to=address, promised=ticket.first_response_due_at.isoformat())
                results[ticket.id] = "sent"
            if n % COMMIT_EVERY == 0:
                db.session.commit()
    db.session.commit()
    return results


def send(ticket_id: int) -> str:
    """Send the ticket's acknowledgement if it is still owed; return what happened (raise if sending failed)."""
    claimed = _claim(ticket_id)
    if not claimed:
        db.session.commit()
        return "not owed"
    outcome = _send_claimed(claimed)[ticket_id]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def send_owed(limit: int = 500) -> dict[str, int]:
    """Send every owed acknowledgement (up to ``limit``), in batches; a failure is logged and left to a retry."""
    counts = {"acknowledgements": 0, "acknowledgement_failures": 0}
    handled = last = 0
    while handled < limit:
        # onwards from the last batch: one that failed is owed again, but waits for the next job
        claimed = _claim(limit=min(BATCH, limit - handled), after=last)
        if not claimed:
            db.session.commit()
            break
        handled, last = handled + len(claimed), claimed[-1]
        try:
            outcomes = _send_claimed(claimed)
        except Exception as exc:
            db.session.rollback()
            counts["acknowledgement_failures"] += len(claimed)
            log.warning("acknowledgements of tickets %s failed: %s", claimed, exc)
            break
        for ticket_id, outcome in outcomes.items():
            if isinstance(outcome, Exception):
                counts["acknowledgement_failures"] += 1
                log.warning("acknowledgement of ticket %s failed: %s", ticket_id, outcome)
            elif outcome == "sent":
                counts["acknowledgements"] += 1
    return counts


def owed(now=None, limit: int = 500) -> list[int]:
    """Return tickets whose acknowledgement is owed and not being sent."""
    return list(db.session.scalars(
        select(Ticket.id).where(_owed_condition(now or utcnow())).order_by(Ticket.id).limit(limit)))
