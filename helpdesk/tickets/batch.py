"""Receive a batch of customers' messages at once: what ``receive`` does, set-based.

Every rule is ``receive``'s own building blocks (``inbound.py``); this module
only changes how often the database is asked and how rows are written. For
the whole batch: one SELECT finds the messages received before, one SELECT
the known customers (and an INSERT each the new ones and their identities),
three SELECTs the tickets the messages thread into. New tickets and the
messages are built as drafts (plain values, no ORM objects: the unit of work
was half of the importer's time) and written when the batch settles, each
kind with one INSERT: tickets, messages, files, log entries, SLA clocks and
search rows. The acknowledgement (one job) and the
timers (one Redis round trip) follow the commit.

The common cases take this path: a new human request, and a human reply to a
ticket that is new or open. A reply to a message of the same batch, or a
second message to a ticket the batch has not finished, first has the batch
so far written ("settled"), so the order of the batch is kept. Anything else
(machine mail, a bounce on a known ticket, a reply to a solved, pending or
closed ticket) goes through ``receive`` itself, after settling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select

from helpdesk import realtime, search
from helpdesk.effects import on_commit
from helpdesk.extensions import db
from helpdesk.models import Attachment, Customer, Message, Team, Ticket
from helpdesk.models.base import utcnow
from helpdesk.models.ticket import PRIORITIES, format_reference
from helpdesk.sla import clocks
from helpdesk.tickets import routing, threading
from helpdesk.tickets.events import entry, record_many
from helpdesk.tickets.identities import find_or_create_customers
from helpdesk.tickets.inbound import (
    Inbound,
    Received,
    acknowledgement_status,
    customer_wrote,
    message_added,
    message_fields,
    message_log,
    opened_log,
    receive,
    stored_files,
    ticket_subject,
)


@dataclass(eq=False)
class DraftTicket:
    """A ticket the batch opens, before its row is written: what routing and the SLA policy read and set."""

    customer: Customer
    channel: str
    subject: str
    priority: str
    created_at: datetime
    updated_at: datetime
    team: Team | None = None
    sla_policy_id: int | None = None
    first_response_due_at: datetime | None = None
    next_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    sla_next_due_at: datetime | None = None
    ack_status: str | None = None
    last_customer_message_at: datetime | None = None
    status: str = "new"
    id: int | None = None  #: set when the row is written
    # What a new ticket has none of yet (read by the API's ticket_json, as of a Ticket).
    assignee = None
    tags = ()
    first_responded_at = None
    solved_at = None
    ack_sent_at = None
    sla_breaches = None

    @property
    def reference(self) -> str:
        return format_reference(self.id)

    def row(self) -> dict:
        """Return the ticket's column values (the others take their defaults)."""
        return {
            "subject": self.subject, "status": self.status, "priority_rank": PRIORITIES.index(self.priority),
            "channel": self.channel, "customer_id": self.customer.id, "team_id": self.team.id if self.team else None,
            "created_at": self.created_at, "updated_at": self.updated_at,
            "last_customer_message_at": self.last_customer_message_at,
            "first_response_due_at": self.first_response_due_at, "next_response_due_at": self.next_response_due_at,
            "resolution_due_at": self.resolution_due_at, "sla_next_due_at": self.sla_next_due_at,
            "ack_status": self.ack_status, "sla_policy_id": self.sla_policy_id,
        }


@dataclass(eq=False)
class DraftMessage:
    """A customer's message the batch adds, before its row is written."""

    ticket: Ticket | DraftTicket
    author_customer_id: int | None
    fields: dict  #: ``inbound.message_fields``
    files: list[dict]  #: the stored files' Attachment values (``inbound.stored_files``)
    id: int | None = None  #: set when the row is written

    @property
    def ticket_id(self) -> int:
        return self.ticket.id

    @property
    def body_text(self) -> str:
        return self.fields["body_text"]

    @property
    def created_at(self) -> datetime:
        return self.fields["created_at"]


@dataclass
class _Batch:
    """What a batch has built but not written: new tickets with their clocks, messages, replies to finish."""

    openings: list[tuple[DraftTicket, clocks.Opening]] = field(default_factory=list)
    messages: list[DraftMessage] = field(default_factory=list)
    replies: list[tuple[Inbound, Ticket, Customer, DraftMessage]] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)  #: ids of existing tickets the unwritten messages went to
    acknowledge: DraftTicket | None = None

    def settle(self) -> None:
        """Write what was built, start the new tickets' clocks and finish the replies, in batch order."""
        if not (self.openings or self.messages):
            return
        db.session.flush()  # the existing tickets the replies changed, and anything receive() left
        _write_tickets([ticket for ticket, _ in self.openings])
        _write_messages(self.messages)
        # Each ticket's log in the order receive() writes it: opened, its clocks started; a reply
        # logged before its clocks run. Each reply here went to a different ticket.
        record_many([entry(ticket, "created", None, **opened_log(ticket)) for ticket, _ in self.openings])
        clocks.start_opened(self.openings)
        for ticket, _ in self.openings:  # announced as written: nothing to load again after the commit
            on_commit(realtime.announce_ticket, *realtime.ticket_announcement(ticket, "created"))
        record_many([entry(ticket, "customer_message", customer, **message_log(inbound, message))
                     for inbound, ticket, customer, message in self.replies])
        loaded = clocks.clocks_of_many([ticket for _, ticket, _, _ in self.replies])
        for inbound, ticket, _, message in self.replies:
            message_added(inbound, ticket, message, loaded[ticket.id])
            db.session.expire(ticket, ["messages"])  # written past the ORM: load it afresh if asked
        search.index_new(tickets=[ticket for ticket, _ in self.openings], messages=self.messages)
        self.openings, self.messages, self.replies, self.touched = [], [], [], set()


def _write_tickets(tickets: list[DraftTicket]) -> None:
    if tickets:
        ids = db.session.scalars(insert(Ticket).returning(Ticket.id, sort_by_parameter_order=True),
                                 [ticket.row() for ticket in tickets]).all()
        for ticket, ticket_id in zip(tickets, ids, strict=True):
            ticket.id = ticket_id


def _write_messages(messages: list[DraftMessage]) -> None:
    if not messages:
        return
    rows = [{**message.fields, "ticket_id": message.ticket.id, "author_customer_id": message.author_customer_id}
            for message in messages]
    ids = db.session.scalars(insert(Message).returning(Message.id, sort_by_parameter_order=True), rows).all()
    files = []
    for message, message_id in zip(messages, ids, strict=True):
        message.id = message_id
        files += [{**row, "message_id": message_id} for row in message.files]
    if files:
        db.session.execute(insert(Attachment), files)


def _fast(inbound: Inbound) -> bool:
    """Say whether ``inbound`` is a common case the batch path takes as it is."""
    return (inbound.thread and not inbound.machine and not inbound.ticket_id and not inbound.client_id
            and inbound.author_type == "customer" and bool(inbound.external_id))


def receive_many(inbounds: list[Inbound]) -> list[Received]:
    """Receive each message as ``receive`` would, in order, with a few queries for the whole batch.

    The caller commits (and on any error rolls back and may redo the batch
    one by one with ``receive``).
    """
    external = [i.external_id for i in inbounds if i.external_id]
    seen = {m.external_id: m for m in db.session.scalars(select(Message).where(Message.external_id.in_(external)))} \
        if external else {}
    fast = [i for i, inbound in enumerate(inbounds) if _fast(inbound) and inbound.external_id not in seen]
    customers = dict(zip(fast, find_or_create_customers([inbounds[i].contact for i in fast]), strict=True))
    lookup = threading.Preloaded([inbounds[i] for i in fast])
    batch = _Batch()
    made: dict[str, Received] = {}  #: what receiving each Message-ID of this batch did
    results = []
    for i, inbound in enumerate(inbounds):
        if inbound.external_id in seen:
            message = seen[inbound.external_id]
            results.append(Received(message.ticket, message, created=False, duplicate=True))
            continue
        if inbound.external_id in made:
            results.append(made[inbound.external_id].repeat())
            continue
        if i not in customers:
            batch.settle()  # not a common case: as receive does, after what came before
            results.append(receive(inbound))
        elif made.keys() & set(threading.header_ids(inbound)):
            # a reply to a message of this batch, which the preloaded lookups cannot know: ask the database
            batch.settle()
            results.append(_receive_fast(inbound, customers[i][0], threading.DATABASE, batch))
        else:
            results.append(_receive_fast(inbound, customers[i][0], lookup, batch))
        if inbound.external_id:
            made[inbound.external_id] = results[-1]
    batch.settle()
    if batch.acknowledge is not None:
        from helpdesk.sla.acknowledgement import queue_acknowledgement

        on_commit(queue_acknowledgement, batch.acknowledge.id)  # one job sends every acknowledgement owed
    return results


def _receive_fast(inbound: Inbound, customer: Customer, lookup: threading.Lookup, batch: _Batch) -> Received:
    with db.session.no_autoflush:
        ticket, reason = threading.find_ticket(inbound, customer, lookup)
    if ticket is not None and ticket.id in batch.touched:
        batch.settle()  # finish the batch's earlier message to this ticket first
    if ticket is not None and ticket.status not in ("new", "open"):
        batch.settle()
        return receive(inbound)  # reopening it, or a follow-up of a closed ticket
    with db.session.no_autoflush:
        return _build(inbound, customer, ticket, reason, batch)


def _open(inbound: Inbound, customer: Customer, batch: _Batch) -> DraftTicket:
    """Draft a new ticket as ``inbound.new_ticket`` builds one: routed, with its SLA clocks planned."""
    now = inbound.received_at or utcnow()
    ticket = DraftTicket(customer=customer, channel=inbound.channel, subject=ticket_subject(inbound.subject),
                         priority=inbound.priority, created_at=now, updated_at=now)
    ticket.team = routing.route(ticket)
    opening = clocks.plan_opening(ticket, now)
    ticket.ack_status = acknowledgement_status(ticket, inbound)
    if ticket.ack_status == "pending":
        batch.acknowledge = batch.acknowledge or ticket
    batch.openings.append((ticket, opening))
    return ticket


def _build(inbound: Inbound, customer: Customer, ticket: Ticket | None, reason: str, batch: _Batch) -> Received:
    meta = dict(inbound.meta)
    created = ticket is None
    if created:
        ticket = _open(inbound, customer, batch)
        meta["threading"] = "new ticket"
    else:
        meta["threading"] = reason
        batch.touched.add(ticket.id)
    files, skipped = stored_files(inbound.attachments, skip_too_large=True)
    if skipped:
        meta["skipped_attachments"] = skipped
    message = DraftMessage(ticket, customer.id if inbound.author_type == "customer" else None,
                           message_fields(inbound, meta), files)
    customer_wrote(ticket, inbound, message.fields["created_at"])
    batch.messages.append(message)
    if not created:
        batch.replies.append((inbound, ticket, customer, message))
    return Received(ticket, message, created=created)
