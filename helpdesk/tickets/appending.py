"""Append a customer's message to a ticket it changes in no other way: receive's common case, in a few statements.

Most live chat messages land on an open ticket whose SLA clock is already
running: ``receive`` then reopens nothing, follows nothing up and starts no
clock; it stores the message, its event and its search row and touches the
ticket. ``append_customer_message`` writes exactly those rows with Core
statements instead of the ORM's unit of work (about a tenth of the CPU), and
hands every other case back to ``receive`` by returning None before writing
anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, insert, or_, select, update

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


def _appendable(ticket_id: int, visitor_hash: str, client_id: str | None):
    """Return the author (customer id, name) if the message can skip receive, else None.

    Mirrors receive and ``clocks.on_customer_message``: the ticket is neither
    merged nor in a status a customer's message changes; no SLA clock has to
    start (a first or next response clock is already running, or the policy
    sets no next-response target); the client id is new on the ticket; and the
    visitor is a known customer. One SELECT answers all of it.
    """
    identity = (select(CustomerIdentity.customer_id)
                .where(CustomerIdentity.kind == "visitor", CustomerIdentity.value == visitor_hash)
                .scalar_subquery())
    duplicate = exists().where(Message.ticket_id == Ticket.id, Message.client_id == client_id) if client_id \
        else None
    conditions = [
        Ticket.id == ticket_id,
        Ticket.merged_into_id.is_(None),
        Ticket.status.in_(UNCHANGED_STATUSES),
        or_(_clock_running(), ~_starts_next_response()),
    ]
    if duplicate is not None:
        conditions.append(~duplicate)
    row = db.session.execute(
        select(Customer.id, Customer.name).select_from(Ticket)
        .join(Customer, Customer.id == identity)
        .where(and_(*conditions))
    ).first()
    return row


def append_customer_message(ticket_id: int, visitor_hash: str, channel: str, body: str,
                            client_id: str | None = None) -> Appended | None:
    """Store a visitor's message on an open ticket as receive would, or return None for receive to do it.

    Writes the rows receive writes in this case: the message (noted "known
    conversation"), the ticket's ``updated_at`` (and ``last_customer_message_at``
    when nothing was waiting), the ``customer_message`` event and the search
    row; the ``ticket`` change follows the commit. A client id stored by a
    racing copy fails the unique index on (ticket_id, client_id), which the
    caller answers like any duplicate: roll back and ask again.
    """
    author = _appendable(ticket_id, visitor_hash, client_id)
    if author is None:
        return None
    customer_id, name = author
    now = utcnow()
    # The same conditions again, under the row lock: a status changed since the SELECT sends it to receive.
    touched = db.session.execute(
        update(Ticket.__table__)
        .where(Ticket.id == ticket_id, Ticket.status.in_(UNCHANGED_STATUSES), Ticket.merged_into_id.is_(None))
        .values(updated_at=now,
                last_customer_message_at=db.func.coalesce(Ticket.last_customer_message_at, now))
    ).rowcount
    if touched != 1:
        return None
    message_id = db.session.execute(
        insert(Message.__table__).returning(Message.id).values(
            ticket_id=ticket_id, author_type="customer", author_customer_id=customer_id, channel=channel,
            internal=False, body_text=body or "", created_at=now, client_id=client_id,
            meta={"threading": KNOWN_CONVERSATION},
        )
    ).scalar_one()
    db.session.execute(insert(TicketEvent.__table__).values(
        ticket_id=ticket_id, kind="customer_message", actor_type="customer", actor_agent_id=None,
        data={"message_id": message_id, "channel": channel}, created_at=now,
    ))
    search.index_new_message(message_id, ticket_id, body or "")
    on_commit(realtime.ticket_touched, ticket_id, "message")
    if not name:
        name = db.session.get(Customer, customer_id).display_name
    return Appended(id=message_id, ticket_id=ticket_id, created_at=now, body_text=body or "", author_name=name)
