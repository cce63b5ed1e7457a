"""Receive a customer's message from any channel: the one way tickets come in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from helpdesk import realtime, search
from helpdesk.effects import on_commit
from helpdesk.extensions import db
from helpdesk.models import Attachment, Customer, Message, Ticket
from helpdesk.models.base import utcnow
from helpdesk.sanitize import clean_html
from helpdesk.sla import clocks
from helpdesk.storage import store
from helpdesk.tickets import routing, threading
from helpdesk.tickets.events import record
from helpdesk.tickets.identities import Contact, find_or_create_customer


@dataclass(frozen=True)
class IncomingFile:
    """An attachment as a channel received it."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass
class Inbound:
    """A customer's message as a channel hands it to the ticket service."""

    channel: str
    contact: Contact
    body_text: str
    subject: str = ""
    body_html: str | None = None
    #: ``body_html`` already went through ``sanitize.clean_html`` (the email reader does it).
    body_html_sanitized: bool = False
    priority: str = "normal"
    #: The channel's own id for the message (email Message-ID); makes receive idempotent.
    external_id: str | None = None
    #: The chat client's id for the message; stored once per ticket.
    client_id: str | None = None
    #: Message-IDs from In-Reply-To and References (email), used for threading.
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    #: Other addresses on the message (To/Cc), who may also write to the ticket.
    participants: list[str] = field(default_factory=list)
    #: "customer" for what a customer wrote; "system" for a bounce on a known ticket.
    author_type: str = "customer"
    #: Machine mail (auto-reply, bounce, list): stored, but reopens nothing and starts no clock.
    machine: bool = False
    #: A ticket the channel already knows this belongs to (chat, portal reply).
    ticket_id: int | None = None
    attachments: list[IncomingFile] = field(default_factory=list)
    received_at: datetime | None = None
    #: Decisions the channel made, kept on the message for agents to read.
    meta: dict = field(default_factory=dict)
    #: False to always open a new ticket (a call or API request logged by an agent).
    thread: bool = True


class Received:
    """What receive did: the ticket and message, whether a ticket was opened, whether it was a repeat.

    ``receive_many`` writes new tickets and messages without ORM objects and
    hands over its drafts of them (anything with an ``id``); ``ticket`` and
    ``message`` load the objects the first time they are asked for.
    """

    def __init__(self, ticket, message, created: bool, duplicate: bool = False):
        self._ticket, self._message = ticket, message
        self.created = created  #: a new ticket was opened
        self.duplicate = duplicate  #: the message had been received before; nothing changed

    @property
    def ticket(self) -> Ticket:
        """The ticket the message went to."""
        if not isinstance(self._ticket, Ticket):
            self._ticket = db.session.get(Ticket, self._ticket.id)
        return self._ticket

    @property
    def message(self) -> Message:
        """The stored message."""
        if not isinstance(self._message, Message):
            self._message = db.session.get(Message, self._message.id)
        return self._message

    @property
    def message_id(self) -> int:
        """The stored message's id, without loading it."""
        return self._message.id

    def repeat(self) -> Received:
        """Return what receiving the same message again does: nothing, a duplicate of this one."""
        return Received(self._ticket, self._message, created=False, duplicate=True)


def _existing(inbound: Inbound) -> Message | None:
    if inbound.external_id:
        return db.session.scalar(select(Message).where(Message.external_id == inbound.external_id))
    if inbound.client_id and inbound.ticket_id:
        return db.session.scalar(
            select(Message).where(Message.ticket_id == inbound.ticket_id, Message.client_id == inbound.client_id)
        )
    return None


def ticket_subject(subject: str | None) -> str:
    """Return a new ticket's subject as stored: trimmed, at most 300 characters, never empty."""
    return (subject or "").strip()[:300] or "(no subject)"


def new_ticket(customer: Customer, channel: str, subject: str, priority: str = "normal", actor=None,
               at: datetime | None = None) -> tuple[Ticket, clocks.Opening]:
    """Build a new ticket, routed, with its SLA due times, and log it; write nothing yet.

    The ticket's clocks wait in the returned Opening for ``clocks.start_opened``
    once the ticket has an id; ``open_ticket`` does the rest for one ticket,
    ``receive_many`` for a batch.
    """
    now = at or utcnow()
    ticket = Ticket(
        subject=ticket_subject(subject),
        channel=channel,
        customer=customer,
        priority=priority,
        status="new",
        created_at=now,
        updated_at=now,
    )
    # Team, policy and due times go into the INSERT rather than UPDATEs after it.
    ticket.team = routing.route(ticket)
    db.session.add(ticket)
    opening = clocks.plan_opening(ticket, now)
    record(ticket, "created", actor, **opened_log(ticket))
    return ticket, opening


def opened_log(ticket) -> dict:
    """Return the data of a new ticket's "created" log entry (``ticket``: a Ticket or a batch's draft)."""
    return {"channel": ticket.channel, "team": ticket.team.name if ticket.team else None}


def open_ticket(customer: Customer, channel: str, subject: str, priority: str = "normal", actor=None,
                at: datetime | None = None) -> Ticket:
    """Create a ticket for ``customer`` (received ``at``, default now), route it to a team and log it."""
    ticket, opening = new_ticket(customer, channel, subject, priority, actor, at)
    db.session.flush()
    clocks.start_opened([(ticket, opening)])
    search.index_new(tickets=[ticket])
    on_commit(realtime.ticket_changed, ticket.id, "created")
    return ticket


def attach(message: Message, files: list[IncomingFile], skip_too_large: bool = False) -> None:
    """Store ``files`` on disk and link them to ``message``.

    With ``skip_too_large`` a file over the size limit is left out and noted on
    the message (inbound mail must not be lost for one huge attachment);
    otherwise AttachmentTooLarge reaches the caller.
    """
    rows, skipped = stored_files(files, skip_too_large)
    if skipped:
        message.meta = {**(message.meta or {}), "skipped_attachments": [
            *(message.meta or {}).get("skipped_attachments", []), *skipped]}
    message.attachments.extend(Attachment(**row) for row in rows)


def stored_files(files: list[IncomingFile], skip_too_large: bool = False) -> tuple[list[dict], list[str]]:
    """Store ``files`` on disk; return their Attachment column values and a note for each file left out.

    With ``skip_too_large`` a file over the size limit is left out (and noted);
    otherwise AttachmentTooLarge reaches the caller.
    """
    rows, skipped = [], []
    for item in files:
        if skip_too_large and len(item.data) > current_app.config["MAX_ATTACHMENT_BYTES"]:
            skipped.append(f"{item.filename} ({len(item.data)} bytes)")
            continue
        rows.append({
            "filename": (item.filename or "attachment")[:255],
            "content_type": (item.content_type or "application/octet-stream")[:127],
            "size": len(item.data),
            "sha256": store(item.data),
            "content_id": item.content_id,
            "inline": item.inline,
        })
    return rows, skipped


def acknowledgement_status(ticket: Ticket, inbound: Inbound) -> str | None:
    """Return the acknowledgement a new ticket owes: pending for a human request on a channel that acknowledges."""
    from helpdesk import channels

    if not channels.get(ticket.channel).acknowledged or not inbound.contact.email:
        return None
    return "skipped" if inbound.machine else "pending"


def thread_or_open(inbound: Inbound, customer, actor=None, lookup: threading.Lookup = threading.DATABASE
                   ) -> tuple[Ticket, bool, dict]:
    """Find the ticket ``inbound`` continues, or open one; return it, whether it is new, and the message's meta.

    A reply to a closed ticket opens a follow-up; a reply to a solved or
    pending one reopens it.
    """
    ticket, reason = threading.find_ticket(inbound, customer, lookup) if inbound.thread else (None, "new ticket")
    meta = dict(inbound.meta)
    now = inbound.received_at or utcnow()
    if ticket is not None and ticket.status == "closed" and not inbound.machine:
        previous = ticket
        ticket = open_ticket(customer, inbound.channel, inbound.subject or previous.subject, inbound.priority,
                             at=now)
        ticket.follow_up_of = previous
        record(previous, "followed_up", customer, by=ticket.reference)
        meta["threading"] = f"follow-up of closed {previous.reference} ({reason})"
        return ticket, True, meta
    if ticket is None:
        ticket = open_ticket(customer, inbound.channel, inbound.subject, inbound.priority, actor, at=now)
        meta["threading"] = "new ticket"
        return ticket, True, meta
    meta["threading"] = reason
    if ticket.status in ("solved", "pending") and not inbound.machine:
        old = ticket.status
        record(ticket, "status", customer, **{"from": old, "to": "open", "reason": "customer replied"})
        ticket.status = "open"
        ticket.solved_at = None
        clocks.on_status_change(ticket, old, "open", now)
    return ticket, False, meta


def add_message(inbound: Inbound, ticket: Ticket, customer, meta: dict) -> Message:
    """Build the customer's message on ``ticket`` (with its files) and note the ticket waits for an answer."""
    message = Message(ticket=ticket, author_customer=customer if inbound.author_type == "customer" else None,
                      **message_fields(inbound, meta))
    db.session.add(message)
    attach(message, inbound.attachments, skip_too_large=True)
    customer_wrote(ticket, inbound, message.created_at)
    return message


def message_fields(inbound: Inbound, meta: dict) -> dict:
    """Return the column values of the customer's message but its ticket, author and files.

    The addresses on To and Cc are noted in ``meta``.
    """
    if inbound.participants:
        meta["participants"] = sorted(set(inbound.participants))[:50]
    html = inbound.body_html
    return {
        "author_type": inbound.author_type,
        "channel": inbound.channel,
        "body_text": inbound.body_text or "",
        "body_html": (html if inbound.body_html_sanitized else clean_html(html)) if html else None,
        "external_id": inbound.external_id,
        "client_id": inbound.client_id,
        "created_at": inbound.received_at or utcnow(),
        "meta": meta,
    }


def customer_wrote(ticket, inbound: Inbound, at: datetime) -> None:
    """Note on ``ticket`` (a Ticket or a batch's draft) that the customer wrote ``at``: it waits for an answer."""
    if ticket.last_customer_message_at is None and not inbound.machine:
        # the oldest unanswered message starts the next-response clock
        ticket.last_customer_message_at = at
    ticket.updated_at = utcnow()


def record_message(inbound: Inbound, ticket: Ticket, customer, message: Message) -> None:
    """Log a message added to an existing ticket (flushed, so it has an id)."""
    record(ticket, "customer_message", customer, **message_log(inbound, message))


def message_log(inbound: Inbound, message) -> dict:
    """Return the data of a "customer_message" log entry (``message``: a Message or a batch's draft, written)."""
    return {"message_id": message.id, "channel": inbound.channel}


def message_added(inbound: Inbound, ticket: Ticket, message: Message, ticket_clocks: dict | None = None) -> None:
    """Run the clocks of an existing ticket a logged message was added to, and tell the consoles.

    ``ticket_clocks``: the ticket's clocks by target, when the caller loaded them already.
    """
    if not inbound.machine:
        clocks.on_customer_message(ticket, inbound.received_at or message.created_at, ticket_clocks)
    on_commit(realtime.ticket_changed, ticket.id, "message")


def receive(inbound: Inbound, actor=None) -> Received:
    """Thread a customer's message into its ticket (or open one) and store it.

    Idempotent on the channel's message id, so a channel that delivers at
    least once still makes exactly one message. The caller commits; jobs and
    live events follow the commit. ``receive_many`` does the same for a batch;
    a chat message that changes nothing but the ticket's times has a quicker
    path with the same outcome (``appending.append_customer_messages``): keep
    the three in step.
    """
    existing = _existing(inbound)
    if existing is not None:
        return Received(existing.ticket, existing, created=False, duplicate=True)

    customer, _ = find_or_create_customer(inbound.contact)
    ticket, created, meta = thread_or_open(inbound, customer, actor)
    if created:
        # before the flush below, so the ticket's acknowledgement status joins its one UPDATE
        ticket.ack_status = acknowledgement_status(ticket, inbound)
        if ticket.ack_status == "pending":
            from helpdesk.sla.acknowledgement import queue_acknowledgement

            on_commit(queue_acknowledgement, ticket.id)
    message = add_message(inbound, ticket, customer, meta)
    db.session.flush()
    if not created:
        record_message(inbound, ticket, customer, message)
        message_added(inbound, ticket, message)
    search.index_new(messages=[message])
    return Received(ticket, message, created=created)
