"""Receive a batch of customers' messages at once: what ``receive`` does, set-based.

Every rule is ``receive``'s own building blocks (``inbound.py``); this module
only changes how often the database is asked. For the whole batch: one
SELECT finds the messages received before, one SELECT (and one flush) the
customers, three SELECTs the tickets the messages thread into. New tickets,
their messages and events are written together at the next flush
(SQLAlchemy's insertmanyvalues), then their SLA clocks, their search rows
(one INSERT) and the acknowledgement (one job) and timers (one Redis round
trip) after the commit.

The common cases take this path: a new human request, and a human reply to a
ticket that is new or open. A reply to a message of the same batch, or a
second message to a ticket the batch has not finished, first has the batch
so far written ("settled"), so the order of the batch is kept. Anything else
(machine mail, a bounce on a known ticket, a reply to a solved, pending or
closed ticket) goes through ``receive`` itself, after settling.
"""

from __future__ import annotations

from sqlalchemy import select

from helpdesk import realtime, search
from helpdesk.effects import on_commit
from helpdesk.extensions import db
from helpdesk.models import Message, Ticket
from helpdesk.sla import clocks
from helpdesk.tickets import threading
from helpdesk.tickets.identities import find_or_create_customers
from helpdesk.tickets.inbound import (
    Inbound,
    Received,
    acknowledgement_status,
    add_message,
    message_added,
    new_ticket,
    receive,
    record_message,
)


class _Batch:
    """What a batch has built but not finished: tickets waiting for their clocks, messages for their ids."""

    def __init__(self):
        self.openings: list[tuple[Ticket, clocks.Opening]] = []
        self.replies: list[tuple[Inbound, Ticket, object, Message]] = []
        self.messages: list[Message] = []
        self.touched: set[int] = set()  #: ids of existing tickets the unsettled messages went to
        self.acknowledge: Ticket | None = None

    def settle(self) -> None:
        """Write what was built, start the new tickets' clocks and finish the replies, in batch order."""
        if not (self.openings or self.replies or self.messages):
            return
        db.session.flush()
        clocks.start_opened(self.openings)
        for ticket, _ in self.openings:
            on_commit(realtime.ticket_changed, ticket.id, "created")
        # Each reply here went to a different ticket, so logging them all before running any
        # clock keeps every ticket's log in order and lets one flush write the lot.
        for inbound, ticket, customer, message in self.replies:
            record_message(inbound, ticket, customer, message)
        loaded = clocks.clocks_of_many([ticket for _, ticket, _, _ in self.replies])
        for inbound, ticket, _, message in self.replies:
            message_added(inbound, ticket, message, loaded[ticket.id])
        search.index_new(tickets=[ticket for ticket, _ in self.openings], messages=self.messages)
        self.openings, self.replies, self.messages, self.touched = [], [], [], set()


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
    made: set[str] = set()  #: Message-IDs received in this batch
    results = []
    for i, inbound in enumerate(inbounds):
        if inbound.external_id in seen:
            message = seen[inbound.external_id]
            results.append(Received(message.ticket, message, created=False, duplicate=True))
            continue
        if i not in customers:
            batch.settle()  # not a common case: as receive does, after what came before
            results.append(receive(inbound))
        elif made.intersection(threading.header_ids(inbound)):
            # a reply to a message of this batch, which the preloaded lookups cannot know: ask the database
            batch.settle()
            results.append(_receive_fast(inbound, customers[i][0], threading.DATABASE, batch))
        else:
            results.append(_receive_fast(inbound, customers[i][0], lookup, batch))
        if inbound.external_id:
            made.add(inbound.external_id)
            seen[inbound.external_id] = results[-1].message
    batch.settle()
    if batch.acknowledge is not None:
        from helpdesk.sla.acknowledgement import queue_acknowledgement

        on_commit(queue_acknowledgement, batch.acknowledge.id)  # one job sends every acknowledgement owed
    return results


def _receive_fast(inbound: Inbound, customer, lookup: threading.Lookup, batch: _Batch) -> Received:
    # Nothing read while building depends on what the batch has built and not written (the
    # lookups are preloaded; lazy loads fetch rows by key), so the batch is written once, at settle().
    with db.session.no_autoflush:
        ticket, reason = threading.find_ticket(inbound, customer, lookup)
    if ticket is not None and ticket.id in batch.touched:
        batch.settle()  # finish the batch's earlier message to this ticket first
    if ticket is not None and ticket.status not in ("new", "open"):
        batch.settle()
        return receive(inbound)  # reopening it, or a follow-up of a closed ticket
    with db.session.no_autoflush:
        return _build(inbound, customer, ticket, reason, batch)


def _build(inbound: Inbound, customer, ticket: Ticket | None, reason: str, batch: _Batch) -> Received:
    meta = dict(inbound.meta)
    created = ticket is None
    if created:
        ticket, opening = new_ticket(customer, inbound.channel, inbound.subject, inbound.priority,
                                     at=inbound.received_at)
        meta["threading"] = "new ticket"
        ticket.ack_status = acknowledgement_status(ticket, inbound)
        if ticket.ack_status == "pending":
            batch.acknowledge = batch.acknowledge or ticket
        batch.openings.append((ticket, opening))
    else:
        meta["threading"] = reason
        batch.touched.add(ticket.id)
    message = add_message(inbound, ticket, customer, meta)
    batch.messages.append(message)
    if not created:
        batch.replies.append((inbound, ticket, customer, message))
    return Received(ticket, message, created=created)
