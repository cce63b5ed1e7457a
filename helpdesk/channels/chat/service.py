"""The chat service: start a conversation, store what each side writes, answer history.

Every function changes the session; the caller commits, and the live events
queued with ``on_commit`` go out only once the messages are safely stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import TextClause, bindparam, select, update

from helpdesk import realtime, tickets
from helpdesk.channels.chat import lifecycle, payloads
from helpdesk.channels.chat.protocol import ChatError
from helpdesk.effects import on_commit
from helpdesk.extensions import db
from helpdesk.models import Agent, Conversation, Message
from helpdesk.models.base import utcnow
from helpdesk.models.chat import OPEN_STATES
from helpdesk.tickets import Contact, InvalidIdentity
from helpdesk.tickets.identities import normalize_email

#: The first message of a chat carries this client id, so a resent ``start`` cannot store it twice.
START_CLIENT_ID = "start"


def new_token() -> str:
    """Return a fresh visitor token (only its hash is ever stored)."""
    return "v_" + secrets.token_urlsafe(32)


def latest(visitor_hash: str | None) -> Conversation | None:
    """Return the visitor's newest conversation, whatever its state."""
    if not visitor_hash:
        return None
    return db.session.scalar(
        select(Conversation).where(Conversation.visitor_hash == visitor_hash).order_by(Conversation.id.desc()).limit(1)
    )


def for_ticket(ticket_id: int) -> Conversation | None:
    """Return the newest conversation carried on a ticket."""
    return db.session.scalar(
        select(Conversation).where(Conversation.ticket_id == ticket_id).order_by(Conversation.id.desc()).limit(1)
    )


def start(visitor_hash: str, name: str, email: str, body: str) -> Conversation:
    """Open a chat: the customer (found by visitor id or email), a chat ticket, its first message, an offer.

    A visitor whose conversation is still open gets that one back, so a
    resent ``start`` opens nothing new.
    """
    current = latest(visitor_hash)
    if current is not None and current.state in OPEN_STATES:
        return current
    try:
        email = normalize_email(email) if email else None
    except InvalidIdentity:
        raise ChatError("invalid_request", "email is not an email address") from None
    received = tickets.receive(tickets.Inbound(
        channel="chat",
        contact=Contact(visitor=visitor_hash, email=email, name=name or None),
        subject=" ".join(body.split())[:120],
        body_text=body,
        client_id=START_CLIENT_ID,
        thread=False,
    ))
    now = utcnow()
    conversation = Conversation(
        ticket=received.ticket, customer=received.ticket.customer, visitor_hash=visitor_hash,
        team=received.ticket.team, state="waiting", created_at=now, last_activity_at=now,
    )
    db.session.add(conversation)
    db.session.flush()
    lifecycle.offer(conversation, first=received.message)
    return conversation


def customer_message(conversation: Conversation, client_id: str, body: str,
                     sid: str | None = None) -> Message | tickets.Appended:
    """Store what the visitor wrote (once per client_id) and pass it to the agent after the commit."""
    if conversation.state == "ended":
        raise ChatError("conversation_ended", "this chat has ended; send start to open a new one")
    quick = customer_messages([VisitorLine(conversation.id, client_id, body, sid)])[0]
    if quick is not None:
        return quick
    # Anything but the common case: the ticket service's full receive.
    received = tickets.receive(tickets.Inbound(
        channel="chat", contact=Contact(visitor=conversation.visitor_hash), body_text=body,
        ticket_id=conversation.ticket_id, client_id=client_id,
    ))
    if received.duplicate:
        return received.message
    if received.ticket.id != conversation.ticket_id:
        conversation.ticket = received.ticket  # the ticket was closed: the chat continues on its follow-up
    conversation.last_activity_at = utcnow()
    db.session.flush()
    # Built now, while the rows are loaded: after the commit they are expired and
    # would cost a query each. Sent after the ack, which need not wait for Redis.
    on_commit(realtime.later, _announce, payloads.message(received.message), conversation.id,
              conversation.agent_id or conversation.offered_agent_id, received.message.internal, sid)
    return received.message


@dataclass(frozen=True)
class VisitorLine:
    """A visitor's message as the /chat namespace received it."""

    conversation_id: int
    client_id: str
    body: str
    sid: str | None = None


_conversations = Conversation.__table__
#: What the quick path needs of each line's conversation (built once, cached compiled).
_CONVERSATIONS = select(_conversations.c.id, _conversations.c.state, _conversations.c.ticket_id,
                        _conversations.c.visitor_hash, _conversations.c.agent_id,
                        _conversations.c.offered_agent_id).where(
    _conversations.c.id.in_(bindparam("ids", expanding=True)))
_ACTIVE = update(_conversations).where(_conversations.c.id.in_(bindparam("ids", expanding=True))).values(
    last_activity_at=bindparam("now"))


def customer_messages(lines: list[VisitorLine],
                      execute: Callable[[TextClause, dict], list] | None = None) -> list[tickets.Appended | None]:
    """Store many visitors' messages at once where the ticket service's quick path takes them.

    None for a line it leaves alone (an ended or unknown conversation, a
    ticket that must change, a resent client_id): ``customer_message`` handles
    it, with its errors. The caller commits; the live events follow. On
    PostgreSQL it is one statement (the conversations read and touched too),
    so a batch costs that statement and the commit; ``execute`` may run that
    statement elsewhere (see ``tickets.append_in_one_statement``).
    """
    if not lines:
        return []
    if db.session.get_bind().dialect.name == "postgresql":
        results, rows = tickets.append_in_one_statement(APPEND, {
            "conversations": [line.conversation_id for line in lines],
            "client_ids": [line.client_id for line in lines],
        }, [line.body for line in lines], execute)
        stored = {row[0]: (row.conversation_id, row.agent_id) for row in rows}
    else:
        results, stored = _customer_messages_in_steps(lines)
    for n, (conversation_id, agent_id) in stored.items():
        on_commit(realtime.later, _announce, payloads.message(results[n]), conversation_id, agent_id,
                  results[n].internal, lines[n].sid)
    return results


#: The lines of open conversations, for the quick path's statement (see tickets.one_statement).
#: Each line's conversation is found by its key: the writer keeps one generic plan, which
#: guesses ten lines a batch, and with a join PostgreSQL would rather read every open
#: conversation into a hash table for ten lines while the table is small. The subquery
#: with OFFSET 0 stays a subquery, looked up by primary key once per line.
APPEND = tickets.one_statement(
    f"""
    SELECT conversation.ticket_id, conversation.visitor_hash, l.body, l.client_id, 'chat' AS channel, l.indexed, l.n,
           conversation.id AS conversation_id, conversation.agent_id
    FROM unnest(CAST(:conversations AS integer[]), CAST(:bodies AS text[]), CAST(:client_ids AS text[]),
                CAST(:indexed AS boolean[])) WITH ORDINALITY AS l(conversation_id, body, client_id, indexed, n)
    CROSS JOIN LATERAL (
        SELECT id, ticket_id, visitor_hash, coalesce(agent_id, offered_agent_id) AS agent_id FROM conversation
        WHERE conversation.id = l.conversation_id AND conversation.state IN ({tickets.sql_list(OPEN_STATES)})
        OFFSET 0) AS conversation""",
    also="touched_conversations AS (UPDATE conversation SET last_activity_at = :now "
         "WHERE id IN (SELECT conversation_id FROM stored))",
    returning=f"{tickets.TAKEN_COLUMNS}, conversation_id, agent_id",
)


def _customer_messages_in_steps(lines: list[VisitorLine]) -> tuple[list, dict[int, tuple[int, int | None]]]:
    """The same with the ticket service's portable quick path: the conversations read, then touched."""
    connection = db.session.connection()
    found = {row.id: row for row in connection.execute(
        _CONVERSATIONS, {"ids": sorted({line.conversation_id for line in lines})})}
    rows = [found.get(line.conversation_id) for line in lines]
    taken = [n for n, row in enumerate(rows) if row is not None and row.state in OPEN_STATES]
    appended = tickets.append_customer_messages([
        tickets.CustomerLine(rows[n].ticket_id, rows[n].visitor_hash, lines[n].body, lines[n].client_id)
        for n in taken
    ])
    results: list[tickets.Appended | None] = [None] * len(lines)
    for n, message in zip(taken, appended, strict=True):
        results[n] = message
    stored = {n: (rows[n].id, rows[n].agent_id or rows[n].offered_agent_id)
              for n, message in enumerate(results) if message is not None}
    if stored:
        connection.execute(_ACTIVE, {"ids": sorted({conversation_id for conversation_id, _ in stored.values()}),
                                     "now": utcnow()})
    return results, stored


def _announce(payload: dict, conversation_id: int, agent_id: int | None, internal: bool, sid: str | None) -> None:
    realtime.to_visitor(conversation_id, "message", payload, skip_sid=sid)
    if agent_id:
        realtime.to_agent(agent_id, "message", {**payload, "conversation_id": conversation_id, "internal": internal})


def agent_message(conversation: Conversation, agent: Agent, client_id: str, body: str) -> Message:
    """Store an agent's chat message as a reply on the ticket; delivery follows the commit."""
    lifecycle.require_agent(conversation, agent)
    if conversation.state != "active":
        raise ChatError("conflict", f"the chat is {conversation.state}; accept it first")
    try:
        message = tickets.reply(conversation.ticket, agent, body, client_id=client_id)
    except tickets.TicketError as exc:
        raise ChatError("invalid_request", str(exc)) from None
    conversation.last_activity_at = utcnow()
    return message


def typing_from_visitor(conversation: Conversation, typing: bool) -> None:
    """Tell the agent in the chat that the visitor is (or stopped) typing."""
    agent_id = conversation.agent_id if conversation.state == "active" else None
    if agent_id:
        realtime.to_agent(agent_id, "typing", {"conversation_id": conversation.id, "typing": typing})


def typing_from_agent(conversation: Conversation, agent: Agent, typing: bool) -> None:
    """Tell the visitor that the agent is (or stopped) typing."""
    lifecycle.require_agent(conversation, agent)
    realtime.to_visitor(conversation.id, "typing", {"typing": typing, "author_name": agent.name})
