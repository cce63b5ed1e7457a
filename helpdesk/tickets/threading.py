"""Decide which existing ticket an inbound message belongs to, if any.

In this order, first match wins:

1. a ticket the channel already knows (a chat conversation, a portal reply);
2. one of our own signed Message-IDs in In-Reply-To or References;
3. any other stored Message-ID in those headers;
4. the reference in the subject (``[HD-1042]``), but only when the sender is
   that ticket's customer or was copied on it;
5. otherwise none: a new ticket. Never a fuzzy match on the subject.
"""

from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import select

from helpdesk.channels.email.ids import parse_own_id
from helpdesk.extensions import db
from helpdesk.models import Customer, Message, Ticket
from helpdesk.models.ticket import parse_reference


def _followed(ticket: Ticket | None) -> Ticket | None:
    """Follow merges to the ticket that carries the conversation now."""
    seen = set()
    while ticket is not None and ticket.merged_into_id and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = ticket.merged_into
    return ticket


class Lookup:
    """Where threading looks messages and tickets up: the database, a query per question."""

    def messages(self, ids: list[int]) -> dict[int, Message]:
        """Return the messages with these ids, by id."""
        if not ids:
            return {}
        return {m.id: m for m in db.session.scalars(select(Message).where(Message.id.in_(ids)))}

    def stored(self, external_ids: list[str]) -> dict[str, int]:
        """Return the ticket id of each stored message with one of these Message-IDs."""
        if not external_ids:
            return {}
        return dict(db.session.execute(
            select(Message.external_id, Message.ticket_id).where(Message.external_id.in_(external_ids))).all())

    def ticket(self, ticket_id: int) -> Ticket | None:
        """Return the ticket with this id."""
        return db.session.get(Ticket, ticket_id)


class Preloaded(Lookup):
    """Everything threading needs for a batch of messages, loaded in three queries.

    Only for messages that cannot name each other (the caller checks): a
    message of the same batch is not in the database yet when this loads.
    """

    def __init__(self, inbounds: list):
        own, external, tickets = set(), set(), set()
        for inbound in inbounds:
            for _, value in _header_ids(inbound):
                external.add(value)
                if (message_id := parse_own_id(value)) is not None:
                    own.add(message_id)
            tickets.update(_subject_ticket_ids(inbound.subject))
        self._messages = super().messages(sorted(own))
        self._stored = super().stored(sorted(external))
        tickets.update(m.ticket_id for m in self._messages.values())
        tickets.update(self._stored.values())
        self._tickets = {t.id: t for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(sorted(tickets))))} \
            if tickets else {}
        self._asked = tickets

    def messages(self, ids: list[int]) -> dict[int, Message]:
        """Return the preloaded messages with these ids."""
        return {i: self._messages[i] for i in ids if i in self._messages}

    def stored(self, external_ids: list[str]) -> dict[str, int]:
        """Return the preloaded ticket ids of these Message-IDs."""
        return {v: self._stored[v] for v in external_ids if v in self._stored}

    def ticket(self, ticket_id: int) -> Ticket | None:
        """Return the preloaded ticket (or look up one that was not asked for)."""
        if ticket_id in self._asked:
            return self._tickets.get(ticket_id)
        return super().ticket(ticket_id)


DATABASE = Lookup()


def _subject_ticket_ids(subject: str) -> list[int]:
    prefix = re.escape(current_app.config.get("REFERENCE_PREFIX", "HD"))
    ids = (parse_reference(m[1]) for m in re.finditer(rf"\[({prefix}-\d{{1,12}})\]", subject or "", re.I))
    return [i for i in ids if i]


def references_in_subject(subject: str, lookup: Lookup = DATABASE) -> list[Ticket]:
    """Return the tickets whose ``[HD-1042]`` references stand in ``subject``."""
    tickets = (lookup.ticket(ticket_id) for ticket_id in _subject_ticket_ids(subject))
    return [ticket for ticket in tickets if ticket is not None]


def header_ids(inbound) -> list[str]:
    """Return the Message-IDs ``inbound`` names in In-Reply-To and References."""
    return [value for _, value in _header_ids(inbound)]


def _header_ids(inbound) -> list[tuple[str, str]]:
    """Return (header name, id) pairs, In-Reply-To first, newest References first."""
    pairs = [("In-Reply-To", i) for i in inbound.in_reply_to if i]
    pairs += [("References", i) for i in reversed(inbound.references) if i]
    return pairs[:100]


def _by_own_id(inbound, lookup: Lookup) -> tuple[Ticket | None, str]:
    pairs = [(header, parse_own_id(value)) for header, value in _header_ids(inbound)]
    messages = lookup.messages([message_id for _, message_id in pairs if message_id])
    for header, message_id in pairs:
        message = messages.get(message_id) if message_id else None
        if message is not None:
            return _followed(lookup.ticket(message.ticket_id)), f"threaded by our Message-ID in {header}"
    return None, ""


def _by_stored_id(inbound, lookup: Lookup) -> tuple[Ticket | None, str]:
    pairs = _header_ids(inbound)
    if not pairs:
        return None, ""
    tickets = lookup.stored([v for _, v in pairs])
    for header, value in pairs:
        if value in tickets:
            return _followed(lookup.ticket(tickets[value])), f"threaded by {header}"
    return None, ""


def participants(ticket: Ticket) -> set[str]:
    """Return every address that may write to ``ticket``: its customer's and those copied on it."""
    addresses = {i.value for i in ticket.customer.identities if i.kind == "email"}
    for message in ticket.messages:
        addresses.update((message.meta or {}).get("participants", []))
    return addresses


def _by_subject(inbound, customer: Customer, lookup: Lookup) -> tuple[Ticket | None, str]:
    sender = (inbound.contact.email or "").strip().lower()
    for ticket in references_in_subject(inbound.subject, lookup):
        if ticket.customer_id == customer.id or (sender and sender in participants(ticket)):
            return _followed(ticket), f"threaded by reference {ticket.reference} in the subject"
    return None, ""


def find_ticket(inbound, customer: Customer, lookup: Lookup = DATABASE) -> tuple[Ticket | None, str]:
    """Return the ticket ``inbound`` continues (or None) and why."""
    if inbound.ticket_id:
        return _followed(lookup.ticket(inbound.ticket_id)), "known conversation"
    for strategy in (_by_own_id, _by_stored_id):
        ticket, reason = strategy(inbound, lookup)
        if ticket is not None:
            return ticket, reason
    ticket, reason = _by_subject(inbound, customer, lookup)
    if ticket is not None:
        return ticket, reason
    return None, "new ticket"
