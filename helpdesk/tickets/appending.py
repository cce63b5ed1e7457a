"""Append customers' messages to tickets they change in no other way: receive's common case, in a few statements.

Most live chat messages land on an open ticket whose SLA clock is already
running: ``receive`` then reopens nothing, follows nothing up and starts no
clock; it stores the message, its event and its search row and touches the
ticket. ``append_customer_messages`` writes exactly those rows with Core
statements instead of the ORM's unit of work, for any number of messages at
once (the same handful of statements for one or for a hundred), and hands
every other case back to ``receive`` by answering None for it before writing
anything for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, insert, or_, select, update

from helpdesk import realtime, search
from helpdesk.effects import on_commit
from helpdesk.extensions import db
from helpdesk.models import Customer, CustomerIdentity, Message, SlaClock, SlaPolicy, Ticket, TicketEvent
from helpdesk.models.base import utcnow

#: Statuses a customer's message leaves as they are; receive reopens pending and
#: solved tickets and opens a follow-up of a closed one.
UNCHANGED_STATUSES = ("new", "open")
#: What receive notes on a message it threads by the ticket the channel named.
KNOWN_CONVERSATION = "known conversation"


@dataclass(frozen=True)
class CustomerLine:
    """A visitor's message for a ticket the channel knows (a chat's)."""

    ticket_id: int
    visitor_hash: str
    body: str
    client_id: str | None = None
    channel: str = "chat"


@dataclass(frozen=True)
class Appended:
    """A customer message stored by the quick path; reads like a Message where chat payloads need one."""

    id: int
    ticket_id: int
    created_at: datetime
    body_text: str
    author_name: str
    author_type: str = "customer"
    internal: bool = False


def _clock_running():
    """Say (as SQL) whether the ticket already has a response clock covering a new customer message."""
    return exists().where(
        SlaClock.ticket_id == Ticket.id,
        SlaClock.target.in_(("first_response", "next_response")),
        SlaClock.fulfilled_at.is_(None),
    )


def _starts_next_response():
    """Say (as SQL) whether the ticket's policy has a next-response target to start."""
    return exists().where(SlaPolicy.id == Ticket.sla_policy_id, SlaPolicy.next_response_minutes.is_not(None))


def _unchanged(ticket_ids: set[int]) -> set[int]:
    """Return the tickets a customer's message changes in no other way.

    Mirrors receive and ``clocks.on_customer_message``: not merged, not in a
    status a customer's message changes, and no SLA clock to start (a first or
    next response clock is already running, or the policy sets no
    next-response target).
    """
    return set(db.session.scalars(select(Ticket.id).where(
        Ticket.id.in_(ticket_ids),
        Ticket.merged_into_id.is_(None),
        Ticket.status.in_(UNCHANGED_STATUSES),
        or_(_clock_running(), ~_starts_next_response()),
    )))


def _authors(visitor_hashes: set[str]) -> dict[str, tuple[int, str]]:
    """Return the known visitors' customers: visitor hash -> (customer id, name)."""
    rows = db.session.execute(
        select(CustomerIdentity.value, Customer.id, Customer.name)
        .join(Customer, Customer.id == CustomerIdentity.customer_id)
        .where(CustomerIdentity.kind == "visitor", CustomerIdentity.value.in_(visitor_hashes))
    )
    return {value: (customer_id, name) for value, customer_id, name in rows}


def _stored_client_ids(lines: list[CustomerLine]) -> set[tuple[int, str]]:
    """Return the (ticket id, client id) pairs of ``lines`` already stored."""
    client_ids = {line.client_id for line in lines if line.client_id}
    if not client_ids:
        return set()
    rows = db.session.execute(select(Message.ticket_id, Message.client_id).where(
        Message.ticket_id.in_({line.ticket_id for line in lines}), Message.client_id.in_(client_ids)))
    return {(ticket_id, client_id) for ticket_id, client_id in rows}


def append_customer_messages(lines: list[CustomerLine]) -> list[Appended | None]:
    """Store each line as receive would when that is all receive would do; None for every other line.

    For the lines it takes it writes the rows receive writes in this case: the
    message (noted "known conversation"), the ticket's ``updated_at`` (and
    ``last_customer_message_at`` when nothing was waiting), the
    ``customer_message`` event and the search row; each ticket's ``ticket``
    change follows the commit. It leaves to receive a ticket that must change
    (see ``_unchanged``), an unknown visitor, and a client id stored before
    (receive returns that message) or twice among ``lines``. A client id
    stored meanwhile by another process fails the unique index on (ticket_id,
    client_id): the caller rolls back and asks again. The caller commits.
    """
    if not lines:
        return []
    candidates = _unchanged({line.ticket_id for line in lines})
    authors = _authors({line.visitor_hash for line in lines if line.ticket_id in candidates})
    seen = _stored_client_ids([line for line in lines if line.ticket_id in candidates])
    chosen: list[int] = []
    for n, line in enumerate(lines):
        key = (line.ticket_id, line.client_id)
        if line.ticket_id in candidates and line.visitor_hash in authors and key not in seen:
            chosen.append(n)
            if line.client_id:
                seen.add(key)
    if not chosen:
        return [None] * len(lines)
    now = utcnow()
    # Lock the tickets in id order first: two processes' batches naming the same tickets
    # then wait for each other instead of deadlocking (an UPDATE locks in scan order).
    locked = db.session.scalars(select(Ticket.id).where(Ticket.id.in_({lines[n].ticket_id for n in chosen}))
                                .order_by(Ticket.id).with_for_update()).all()
    # The ticket conditions again, under the row locks: a status changed since the SELECT sends its lines to receive.
    touched = set(db.session.scalars(
        update(Ticket.__table__)
        .where(Ticket.id.in_(locked), Ticket.status.in_(UNCHANGED_STATUSES),
               Ticket.merged_into_id.is_(None))
        .values(updated_at=now, last_customer_message_at=db.func.coalesce(Ticket.last_customer_message_at, now))
        .returning(Ticket.id)
    ))
    chosen = [n for n in chosen if lines[n].ticket_id in touched]
    if not chosen:
        return [None] * len(lines)
    ids = db.session.scalars(
        insert(Message.__table__).returning(Message.id, sort_by_parameter_order=True),
        [{"ticket_id": lines[n].ticket_id, "author_type": "customer",
          "author_customer_id": authors[lines[n].visitor_hash][0], "author_agent_id": None,
          "channel": lines[n].channel, "internal": False, "body_text": lines[n].body or "", "body_html": None,
          "created_at": now, "external_id": None, "client_id": lines[n].client_id,
          "meta": {"threading": KNOWN_CONVERSATION}} for n in chosen],
    ).all()
    db.session.execute(insert(TicketEvent.__table__), [
        {"ticket_id": lines[n].ticket_id, "kind": "customer_message", "actor_type": "customer",
         "actor_agent_id": None, "data": {"message_id": message_id, "channel": lines[n].channel}, "created_at": now}
        for n, message_id in zip(chosen, ids, strict=True)
    ])
    search.index_new_messages([(message_id, lines[n].ticket_id, lines[n].body or "")
                               for n, message_id in zip(chosen, ids, strict=True)])
    for ticket_id in sorted(touched):
        on_commit(realtime.ticket_touched, ticket_id, "message")
    results: list[Appended | None] = [None] * len(lines)
    for n, message_id in zip(chosen, ids, strict=True):
        customer_id, name = authors[lines[n].visitor_hash]
        if not name:
            name = db.session.get(Customer, customer_id).display_name
        results[n] = Appended(id=message_id, ticket_id=lines[n].ticket_id, created_at=now,
                              body_text=lines[n].body or "", author_name=name)
    return results


def append_customer_message(ticket_id: int, visitor_hash: str, channel: str, body: str,
                            client_id: str | None = None) -> Appended | None:
    """Store one visitor's message as receive would, or return None for receive to do it (see the plural)."""
    return append_customer_messages([CustomerLine(ticket_id, visitor_hash, body, client_id, channel)])[0]
