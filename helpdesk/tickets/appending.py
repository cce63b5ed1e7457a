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

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import TextClause, bindparam, exists, func, insert, or_, select, text, update

from helpdesk import realtime, search
from helpdesk.effects import on_commit
from helpdesk.extensions import db
from helpdesk.models import Customer, CustomerIdentity, Message, SlaClock, SlaPolicy, Ticket, TicketEvent
from helpdesk.models.base import utcnow

#: Statuses a customer's message leaves as they are; receive reopens pending and
#: solved tickets and opens a follow-up of a closed one.
UNCHANGED_STATUSES = ("new", "open")
#: The SLA targets a customer's message is covered by, when one is already running.
RESPONSE_TARGETS = ("first_response", "next_response")
#: What receive notes on a message it threads by the ticket the channel named.
KNOWN_CONVERSATION = "known conversation"
KNOWN_CONVERSATION_META = {"threading": KNOWN_CONVERSATION}


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


_tickets, _messages = Ticket.__table__, Message.__table__
_identities, _customers = CustomerIdentity.__table__, Customer.__table__


def _in(name: str):
    """A list parameter for ``column.in_``: the statements below are built once and cached compiled."""
    return bindparam(name, expanding=True)


#: A response clock already covers a new customer message on the ticket.
_CLOCK_RUNNING = exists().where(
    SlaClock.__table__.c.ticket_id == _tickets.c.id,
    SlaClock.__table__.c.target.in_(RESPONSE_TARGETS),
    SlaClock.__table__.c.fulfilled_at.is_(None),
)
#: The ticket's policy has a next-response target, which a customer message would start.
_STARTS_NEXT_RESPONSE = exists().where(SlaPolicy.__table__.c.id == _tickets.c.sla_policy_id,
                                       SlaPolicy.__table__.c.next_response_minutes.is_not(None))
_LEFT_ALONE = (_tickets.c.status.in_(UNCHANGED_STATUSES), _tickets.c.merged_into_id.is_(None))

#: The tickets a customer's message changes in no other way. Mirrors receive and
#: ``clocks.on_customer_message``: not merged, not in a status a customer's message
#: changes, and no SLA clock to start (a first or next response clock is already
#: running, or the policy sets no next-response target).
_UNCHANGED = select(_tickets.c.id).where(_tickets.c.id.in_(_in("tickets")), *_LEFT_ALONE,
                                         or_(_CLOCK_RUNNING, ~_STARTS_NEXT_RESPONSE))
#: Known visitors' customers: visitor hash, customer id, name.
_AUTHORS = (select(_identities.c.value, _customers.c.id, _customers.c.name)
            .join(_customers, _customers.c.id == _identities.c.customer_id)
            .where(_identities.c.kind == "visitor", _identities.c.value.in_(_in("hashes"))))
#: (ticket id, client id) pairs already stored.
_STORED = select(_messages.c.ticket_id, _messages.c.client_id).where(
    _messages.c.ticket_id.in_(_in("tickets")), _messages.c.client_id.in_(_in("client_ids")))
#: Lock the tickets in id order first: two processes' batches naming the same tickets
#: then wait for each other instead of deadlocking (an UPDATE locks in scan order).
_LOCK = select(_tickets.c.id).where(_tickets.c.id.in_(_in("tickets"))).order_by(_tickets.c.id).with_for_update()
#: The ticket conditions again, under the row locks: a status changed since sends its lines to receive.
_TOUCH = (update(_tickets).where(_tickets.c.id.in_(_in("tickets")), *_LEFT_ALONE)
          .values(updated_at=bindparam("now"),
                  last_customer_message_at=func.coalesce(_tickets.c.last_customer_message_at, bindparam("now")))
          .returning(_tickets.c.id))
_INSERT_MESSAGES = insert(_messages).returning(_messages.c.id, sort_by_parameter_order=True)
_INSERT_EVENTS = insert(TicketEvent.__table__)


def append_customer_messages(lines: list[CustomerLine]) -> list[Appended | None]:
    """Store each line as receive would when that is all receive would do; None for every other line.

    For the lines it takes it writes the rows receive writes in this case: the
    message (noted "known conversation"), the ticket's ``updated_at`` (and
    ``last_customer_message_at`` when nothing was waiting), the
    ``customer_message`` event and the search row; each ticket's ``ticket``
    change follows the commit. It leaves to receive a ticket that must change
    (see ``_UNCHANGED``), an unknown visitor, and a client id stored before
    (receive returns that message) or twice among ``lines``. A client id
    stored meanwhile by another process is left to receive too on PostgreSQL
    (the INSERT's ON CONFLICT); elsewhere it fails the unique index on
    (ticket_id, client_id), and the caller rolls back and asks again. The
    caller commits.

    Under load this is the hot path of every chat message, so it costs few
    round trips: on PostgreSQL one statement (``one_statement``) checks and
    writes everything; elsewhere a handful of statements, each built once
    (above). Both write the same rows; tests/test_tickets_appending.py holds
    both to what receive writes.
    """
    if not lines:
        return []
    if db.session.connection().dialect.name == "postgresql":
        results, _ = append_in_one_statement(_APPEND, {
            "tickets": [line.ticket_id for line in lines], "hashes": [line.visitor_hash for line in lines],
            "client_ids": [line.client_id for line in lines], "channels": [line.channel for line in lines],
        }, [line.body or "" for line in lines])
        return results
    return _append_in_steps(lines)


def _appended(rows, bodies: list[str], now: datetime) -> list[Appended | None]:
    """Return the Appended of each line taken, from (n, message id, ticket id, customer id, customer name) rows.

    A customer without a name is named as ``Customer.display_name`` names them (the
    statement on PostgreSQL does that in SQL, and so needs no query here).
    """
    results: list[Appended | None] = [None] * len(bodies)
    for n, message_id, ticket_id, customer_id, name in rows:
        if not name:
            name = db.session.get(Customer, customer_id).display_name
        results[n] = Appended(id=message_id, ticket_id=ticket_id, created_at=now, body_text=bodies[n],
                              author_name=name)
    for ticket_id in sorted({result.ticket_id for result in results if result is not None}):
        on_commit(realtime.ticket_touched, ticket_id, "message")
    return results


def _append_in_steps(lines: list[CustomerLine]) -> list[Appended | None]:
    """Check and write with the statements above, one round trip each."""
    now = utcnow()
    connection = db.session.connection()
    candidates = set(connection.scalars(_UNCHANGED, {"tickets": sorted({line.ticket_id for line in lines})}))
    mine = [line for line in lines if line.ticket_id in candidates]
    authors = {value: (customer_id, name) for value, customer_id, name in connection.execute(
        _AUTHORS, {"hashes": sorted({line.visitor_hash for line in mine})})} if mine else {}
    client_ids = sorted({line.client_id for line in mine if line.client_id})
    seen = set(connection.execute(_STORED, {"tickets": sorted({line.ticket_id for line in mine}),
                                            "client_ids": client_ids}).tuples()) if client_ids else set()
    chosen: list[int] = []
    for n, line in enumerate(lines):
        key = (line.ticket_id, line.client_id)
        if line.ticket_id in candidates and line.visitor_hash in authors and key not in seen:
            chosen.append(n)
            if line.client_id:
                seen.add(key)
    bodies = [line.body or "" for line in lines]
    if not chosen:
        return [None] * len(lines)
    locked = connection.scalars(_LOCK, {"tickets": sorted({lines[n].ticket_id for n in chosen})}).all()
    touched = set(connection.scalars(_TOUCH, {"tickets": locked, "now": now}))
    chosen = [n for n in chosen if lines[n].ticket_id in touched]
    if not chosen:
        return [None] * len(lines)
    ids = connection.scalars(_INSERT_MESSAGES, [
        {"ticket_id": lines[n].ticket_id, "author_type": "customer",
         "author_customer_id": authors[lines[n].visitor_hash][0], "author_agent_id": None,
         "channel": lines[n].channel, "internal": False, "body_text": bodies[n], "body_html": None,
         "created_at": now, "external_id": None, "client_id": lines[n].client_id,
         "meta": KNOWN_CONVERSATION_META} for n in chosen]).all()
    connection.execute(_INSERT_EVENTS, [
        {"ticket_id": lines[n].ticket_id, "kind": "customer_message", "actor_type": "customer",
         "actor_agent_id": None, "data": {"message_id": message_id, "channel": lines[n].channel}, "created_at": now}
        for n, message_id in zip(chosen, ids, strict=True)
    ])
    search.index_new_messages([(message_id, lines[n].ticket_id, bodies[n])
                               for n, message_id in zip(chosen, ids, strict=True)])
    return _appended([(n, message_id, lines[n].ticket_id, *authors[lines[n].visitor_hash])
                      for n, message_id in zip(chosen, ids, strict=True)], bodies, now)


def sql_list(constants: tuple[str, ...]) -> str:
    """Return our own constant words as an SQL list (never anything a client sent)."""
    assert all(word.isidentifier() for word in constants)
    return ", ".join(f"'{word}'" for word in constants)


def _first_identity(kind: str) -> str:
    """SQL for a customer's first identity of ``kind``, as ``Customer.display_name`` takes it."""
    assert kind.isidentifier()
    return (f"(SELECT value FROM customer_identity WHERE customer_id = customer.id AND kind = '{kind}' "
            f"ORDER BY id LIMIT 1)")


#: The quick path on PostgreSQL after the caller's CTE ``line``: every check of
#: ``_append_in_steps``, made in SQL, then the writes. Message ids are drawn before
#: the INSERT, in line order (PostgreSQL evaluates a volatile output column after the
#: sort), so each line knows its own; the ticket lock is taken in id order and
#: re-checks the ticket's conditions under it, as _LOCK and _TOUCH do. A customer
#: without a name is named as ``Customer.display_name`` names them.
#:
#: A client id already stored (before, by another process meanwhile, or earlier in
#: the same batch) is left out by the INSERT's ON CONFLICT on the unique index of
#: (ticket_id, client_id): one index probe per line, where a NOT EXISTS let the
#: planner read all of a ticket's messages through the other index on ticket_id. Only
#: the lines actually inserted (``stored``) get their event, search row and touch.
_CHECK_AND_WRITE = f"""
candidate AS MATERIALIZED (
    SELECT line.*, identity.customer_id,
           coalesce(nullif(customer.name, ''), {_first_identity("email")}, {_first_identity("phone")},
                    'Customer ' || customer.id) AS name
    FROM line
    JOIN customer_identity AS identity ON identity.kind = 'visitor' AND identity.value = line.visitor_hash
    JOIN customer ON customer.id = identity.customer_id
),
locked AS MATERIALIZED (
    SELECT ticket.id FROM ticket
    WHERE ticket.id IN (SELECT ticket_id FROM candidate)
      AND ticket.status IN ({sql_list(UNCHANGED_STATUSES)}) AND ticket.merged_into_id IS NULL
      AND (EXISTS (SELECT 1 FROM sla_clock WHERE sla_clock.ticket_id = ticket.id
                                             AND sla_clock.target IN ({sql_list(RESPONSE_TARGETS)})
                                             AND sla_clock.fulfilled_at IS NULL)
           OR NOT EXISTS (SELECT 1 FROM sla_policy WHERE sla_policy.id = ticket.sla_policy_id
                                                     AND sla_policy.next_response_minutes IS NOT NULL))
    ORDER BY ticket.id FOR UPDATE OF ticket
),
taken AS MATERIALIZED (
    SELECT candidate.*, nextval(pg_get_serial_sequence('message', 'id')) AS id
    FROM candidate WHERE ticket_id IN (SELECT id FROM locked) ORDER BY n
),
message_rows AS (
    INSERT INTO message (id, ticket_id, author_type, author_customer_id, channel, internal, body_text,
                         created_at, client_id, meta)
    SELECT id, ticket_id, 'customer', customer_id, channel, false, body, :now, client_id, CAST(:meta AS json)
    FROM taken
    ON CONFLICT (ticket_id, client_id) DO NOTHING
    RETURNING id
),
stored AS MATERIALIZED (
    SELECT taken.* FROM taken WHERE id IN (SELECT id FROM message_rows)
),
touched AS (
    UPDATE ticket SET updated_at = :now, last_customer_message_at = coalesce(last_customer_message_at, :now)
    WHERE id IN (SELECT ticket_id FROM stored)
),
event_rows AS (
    INSERT INTO ticket_event (ticket_id, kind, actor_type, data, created_at)
    SELECT ticket_id, 'customer_message', 'customer', json_build_object('message_id', id, 'channel', channel), :now
    FROM stored
),
search_rows AS (
    INSERT INTO search_index (key, body, ticket_id)
    SELECT {search.key_sql("message", "id")}, left(body, {search.MAX_BODY}), ticket_id FROM stored WHERE indexed
)"""

#: The columns ``one_statement`` returns first, for ``append_in_one_statement``.
TAKEN_COLUMNS = "n - 1, id, ticket_id, customer_id, name"


def one_statement(line: str, *, also: str = "", returning: str = TAKEN_COLUMNS) -> TextClause:
    """Build the quick path's PostgreSQL statement for the lines a query gives.

    ``line`` is a SELECT with the columns ticket_id, visitor_hash, body,
    client_id, channel, indexed (whether to index the body) and n (the line's
    number, from 1, as WITH ORDINALITY gives it), plus any the caller wants
    carried along; it may use the parameter ``:bodies``. ``also`` adds more
    CTEs after the writes, which see the lines stored as ``stored``; the
    statement returns ``SELECT {returning} FROM stored``, starting with
    TAKEN_COLUMNS.
    """
    assert returning.startswith(TAKEN_COLUMNS)
    return text(f"WITH line AS ({line}),{_CHECK_AND_WRITE}{', ' + also if also else ''}\n"
                f"SELECT {returning} FROM stored")


def append_in_one_statement(statement: TextClause, params: dict, bodies: list[str],
                            execute: Callable[[TextClause, dict], list] | None = None,
                            ) -> tuple[list[Appended | None], list]:
    """Run a ``one_statement`` for lines whose texts are ``bodies``; return their Appended (or None) and the rows.

    Adds the parameters every such statement takes (bodies, indexed, now,
    meta). ``execute(statement, parameters)`` returns the rows; by default
    the statement runs on the session's connection. The chat writer runs it
    on a connection of its own, committed by itself (see its module); the
    ``ticket`` changes still wait for the session's commit.
    """
    now = utcnow()
    parameters = {**params, "bodies": bodies, "indexed": [bool(body.strip()) for body in bodies], "now": now,
                  "meta": json.dumps(KNOWN_CONVERSATION_META)}
    if execute is None:
        rows = db.session.connection().execute(statement, parameters).all()
    else:
        rows = execute(statement, parameters)
    return _appended([row[:5] for row in rows], bodies, now), rows


_APPEND = one_statement("""
    SELECT * FROM unnest(CAST(:tickets AS integer[]), CAST(:hashes AS text[]), CAST(:bodies AS text[]),
                         CAST(:client_ids AS text[]), CAST(:channels AS text[]), CAST(:indexed AS boolean[]))
         WITH ORDINALITY AS l(ticket_id, visitor_hash, body, client_id, channel, indexed, n)""")


def append_customer_message(ticket_id: int, visitor_hash: str, channel: str, body: str,
                            client_id: str | None = None) -> Appended | None:
    """Store one visitor's message as receive would, or return None for receive to do it (see the plural)."""
    return append_customer_messages([CustomerLine(ticket_id, visitor_hash, body, client_id, channel)])[0]
