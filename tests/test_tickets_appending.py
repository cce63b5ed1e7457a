"""The quick path for a customer's chat message: the rows receive would write, and receive for everything else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select, text

from helpdesk import search, tickets
from helpdesk.channels.chat import service
from helpdesk.extensions import db
from helpdesk.models import Conversation, Message, SlaClock, Ticket, TicketEvent
from helpdesk.models.base import utcnow


def chat(n: int, name: str = "Maria Lopez") -> Conversation:
    """Start a chat for visitor ``n`` and commit; return its conversation."""
    conversation = service.start(Conversation.digest(f"token-{n}"), name, f"visitor{n}@example.com", "Hello")
    db.session.commit()
    return conversation


def receive(conversation: Conversation, client_id: str, body: str) -> tickets.Received:
    """Store a visitor's message through the general path, as the chat service calls it."""
    return tickets.receive(tickets.Inbound(
        channel="chat", contact=tickets.Contact(visitor=conversation.visitor_hash), body_text=body,
        ticket_id=conversation.ticket_id, client_id=client_id,
    ))


def append(conversation: Conversation, client_id: str, body: str) -> tickets.Appended | None:
    """Store a visitor's message through the quick path (None: it is not the quick path's case)."""
    return tickets.append_customer_message(conversation.ticket_id, conversation.visitor_hash, "chat", body,
                                           client_id=client_id)


def stored(ticket_id: int, message_id: int) -> dict:
    """Return what a message changed, with ids and instants reduced to what must match between two tickets."""
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket_id)
    message = db.session.get(Message, message_id)
    events = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                          TicketEvent.id > 0).order_by(TicketEvent.id)).all()
    clocks = db.session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket_id).order_by(SlaClock.target))
    return {
        "message": {
            "author_type": message.author_type,
            "author_is_ticket_customer": message.author_customer_id == ticket.customer_id,
            "author_name": message.author_name,
            **{c: getattr(message, c) for c in ("channel", "internal", "body_text", "body_html", "external_id",
                                                "client_id", "delivery_status", "meta")},
        },
        "message_at": message.created_at,
        "last_event": (events[-1].kind, events[-1].actor_type, events[-1].actor_agent_id,
                       {**events[-1].data, "message_id": events[-1].data["message_id"] == message_id}),
        "events": [e.kind for e in events],
        "status": ticket.status,
        "touched": ticket.updated_at >= message.created_at,
        "waiting_since_message": ticket.last_customer_message_at == message.created_at,
        "waiting": ticket.last_customer_message_at is not None,
        "clocks": [(c.target, c.fulfilled_at is None, c.due_at is not None) for c in clocks],
        "due": [getattr(ticket, f) is not None for f in ("first_response_due_at", "next_response_due_at",
                                                         "resolution_due_at", "sla_next_due_at")],
        "found": ticket_id in search.matching(message.body_text)[0],
    }


def test_the_quick_path_stores_what_receive_stores(app):
    general, quick = chat(1), chat(2)
    received = receive(general, "c-1", "Where is parcel alpha")
    db.session.commit()
    appended = append(quick, "c-1", "Where is parcel bravo")
    db.session.commit()
    assert appended is not None and not received.duplicate
    one, other = stored(general.ticket_id, received.message.id), stored(quick.ticket_id, appended.id)
    assert one.pop("message_at") <= other.pop("message_at")
    for row in (one, other):
        row["message"].pop("body_text")
    assert one == other
    assert other["last_event"][0] == "customer_message" and other["found"] and other["waiting"]
    assert appended.author_name == "Maria Lopez" and appended.body_text == "Where is parcel bravo"

    # A second message: the same again.
    again_general = receive(general, "c-2", "Still waiting alpha")
    db.session.commit()
    again_quick = append(quick, "c-2", "Still waiting bravo")
    db.session.commit()
    one, other = stored(general.ticket_id, again_general.message.id), stored(quick.ticket_id, again_quick.id)
    one.pop("message_at"), other.pop("message_at")
    for row in (one, other):
        row["message"].pop("body_text")
    assert one == other


def test_the_quick_path_names_a_visitor_without_a_name_as_receive_does(app):
    conversation = chat(3, name="")
    appended = append(conversation, "c-1", "Hi")
    db.session.commit()
    assert appended.author_name == "visitor3@example.com" == db.session.get(Message, appended.id).author_name


def test_a_resent_client_id_returns_the_stored_message(app):
    conversation = chat(4)
    first = service.customer_message(conversation, "c-1", "Order 1234")
    db.session.commit()
    assert isinstance(first, tickets.Appended)
    assert append(conversation, "c-1", "Order 1234") is None  # the quick path leaves duplicates to receive
    again = service.customer_message(db.session.get(Conversation, conversation.id), "c-1", "Order 1234")
    db.session.commit()
    assert again.id == first.id
    assert len(db.session.scalars(select(Message).where(Message.client_id == "c-1")).all()) == 1


def test_the_chat_service_moves_the_conversations_activity(app):
    conversation = chat(5)
    before = conversation.last_activity_at
    message = service.customer_message(conversation, "c-1", "Anyone there?")
    db.session.commit()
    db.session.expire_all()
    assert isinstance(message, tickets.Appended)
    assert db.session.get(Conversation, conversation.id).last_activity_at > before


def _set_status(conversation: Conversation, status: str) -> Ticket:
    ticket = db.session.get(Ticket, conversation.ticket_id)
    tickets.set_status(ticket, status, None)
    db.session.commit()
    return ticket


def test_a_solved_or_pending_ticket_is_reopened_by_receive(app):
    for n, status in ((6, "solved"), (7, "pending")):
        conversation = chat(n)
        _set_status(conversation, status)
        assert append(conversation, "c-1", "It broke again") is None
        message = service.customer_message(conversation, "c-1", "It broke again")
        db.session.commit()
        db.session.expire_all()
        assert isinstance(message, Message)
        ticket = db.session.get(Ticket, conversation.ticket_id)
        assert ticket.status == "open" and message.ticket_id == ticket.id
        reopened = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                                TicketEvent.kind == "status")).all()[-1]
        assert reopened.data == {"from": status, "to": "open", "reason": "customer replied"}


def test_a_closed_ticket_gets_a_follow_up_from_receive(app):
    conversation = chat(8)
    closed = _set_status(conversation, "closed")
    assert append(conversation, "c-1", "One more thing") is None
    message = service.customer_message(conversation, "c-1", "One more thing")
    db.session.commit()
    db.session.expire_all()
    follow_up = db.session.get(Ticket, message.ticket_id)
    assert follow_up.id != closed.id and follow_up.follow_up_of_id == closed.id
    assert db.session.get(Conversation, conversation.id).ticket_id == follow_up.id


def test_a_message_that_starts_the_next_response_clock_goes_through_receive(app, agent):
    conversation = chat(9)
    ticket = db.session.get(Ticket, conversation.ticket_id)
    tickets.reply(ticket, agent, "How can I help?")  # meets first response; nothing is waiting now
    db.session.commit()
    assert append(conversation, "c-1", "My parcel") is None
    message = service.customer_message(conversation, "c-1", "My parcel")
    db.session.commit()
    assert isinstance(message, Message)
    clock = db.session.scalar(select(SlaClock).where(SlaClock.ticket_id == ticket.id,
                                                     SlaClock.target == "next_response"))
    assert clock is not None and clock.fulfilled_at is None and clock.started_at == message.created_at
    # The clock runs now, so the customer's next message takes the quick path and leaves it alone.
    appended = service.customer_message(db.session.get(Conversation, conversation.id), "c-2", "Order 77")
    db.session.commit()
    db.session.expire_all()
    assert isinstance(appended, tickets.Appended)
    assert db.session.get(SlaClock, clock.id).started_at == message.created_at
    assert db.session.get(Ticket, ticket.id).last_customer_message_at == message.created_at


def test_a_merged_ticket_goes_through_receive(app, agent):
    conversation = chat(10)
    target = tickets.receive(tickets.Inbound(channel="email", contact=tickets.Contact(email="visitor10@example.com"),
                                             subject="Parcel", body_text="Where is it?")).ticket
    tickets.merge(db.session.get(Ticket, conversation.ticket_id), target, agent)
    db.session.commit()
    assert append(conversation, "c-1", "Hello?") is None
    message = service.customer_message(conversation, "c-1", "Hello?")
    db.session.commit()
    assert message.ticket_id == target.id


def test_an_ended_chat_takes_no_message(app):
    conversation = chat(12)
    conversation.state = "ended"
    conversation.ended_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    try:
        service.customer_message(conversation, "c-1", "Hello?")
    except service.ChatError as exc:
        assert exc.code == "conversation_ended"
    else:
        raise AssertionError("an ended chat stored a message")


def test_many_lines_at_once_store_what_one_at_a_time_stores(app):
    first, second, closed = chat(20), chat(21), chat(22)
    _set_status(closed, "closed")
    lines = [
        tickets.CustomerLine(first.ticket_id, first.visitor_hash, "First one", "c-1"),
        tickets.CustomerLine(second.ticket_id, second.visitor_hash, "Second one", "c-1"),
        tickets.CustomerLine(first.ticket_id, first.visitor_hash, "First two", "c-2"),
        tickets.CustomerLine(first.ticket_id, first.visitor_hash, "First one", "c-1"),  # resent at once
        tickets.CustomerLine(closed.ticket_id, closed.visitor_hash, "Closed one", "c-1"),  # needs a follow-up
        tickets.CustomerLine(first.ticket_id, Conversation.digest("a stranger"), "Who?", "c-9"),  # unknown visitor
    ]
    results = tickets.append_customer_messages(lines)
    db.session.commit()
    assert [r is not None for r in results] == [True, True, True, False, False, False]
    assert results[0].id < results[1].id < results[2].id
    for line, result in zip(lines[:3], results[:3], strict=True):
        row = db.session.get(Message, result.id)
        assert (row.ticket_id, row.client_id, row.body_text) == (line.ticket_id, line.client_id, line.body)
        assert row.created_at == result.created_at and row.author_name == result.author_name == "Maria Lopez"
        event = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == line.ticket_id)
                                   .order_by(TicketEvent.id.desc())).first()
        assert event.kind == "customer_message" and event.data["message_id"] in {r.id for r in results[:3]}
        assert line.ticket_id in search.matching(line.body)[0]
    assert len(db.session.scalars(select(Message).where(Message.ticket_id == first.ticket_id,
                                                        Message.client_id == "c-1")).all()) == 1
    # What the quick path left alone still goes through the chat service's full path, with the same outcome.
    again = service.customer_message(db.session.get(Conversation, first.id), "c-1", "First one")
    db.session.commit()
    assert again.id == results[0].id


def test_the_chat_service_takes_many_visitors_lines_and_leaves_the_rest(app):
    live, ended = chat(23), chat(24)
    ended.state = "ended"
    db.session.commit()
    stored = service.customer_messages([service.VisitorLine(live.id, "c-1", "Hello"),
                                        service.VisitorLine(ended.id, "c-1", "Hello?"),
                                        service.VisitorLine(999_999, "c-1", "Anyone?")])
    db.session.commit()
    assert isinstance(stored[0], tickets.Appended) and stored[1:] == [None, None]
    assert db.session.get(Conversation, live.id).last_activity_at >= stored[0].created_at


@pytest.mark.parametrize("in_thread", [False, True], ids=["inline", "in-thread"])
def test_the_chat_writer_stores_a_batch_on_its_own_connection(app, in_thread):
    """On PostgreSQL the writer sends the batch's one statement in autocommit, with its generic plan, on a
    connection of its own (in the server, from a thread of its own); SQLite's statements keep a transaction.
    The session writes nothing; its commit sends the live events."""
    from helpdesk.channels.chat import writer

    conversation_ids = [chat(n).id for n in (30, 31, 32)]
    db.session.remove()
    storage = writer.storage_for(db.engine, in_thread=in_thread)
    on_the_engine = []

    def seen(connection, cursor, statement, *args):
        on_the_engine.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        batch = [writer._Waiting(service.VisitorLine(conversation_id, "w-1", f"Hello from {n}", None))
                 for n, conversation_id in enumerate(conversation_ids)]
        storage.write(batch)
        if db.engine.dialect.name == "postgresql":
            # Nothing written through the pool (here the live events that follow the commit read tickets).
            assert not [sql for sql in on_the_engine if not sql.lstrip().startswith("SELECT")]
            own = storage._connection
            assert own.autocommit
            assert own.execute("SHOW plan_cache_mode").fetchone()[0] == "force_generic_plan"
        else:
            assert storage._connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT"
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
        db.session.remove()
        storage.close()
    assert all(waiting.ack and waiting.ack["id"] for waiting in batch)
    stored = db.session.scalars(select(Message).where(Message.client_id == "w-1")).all()
    assert sorted(m.body_text for m in stored) == ["Hello from 0", "Hello from 1", "Hello from 2"]


def test_the_chat_writer_replaces_a_lost_connection(app):
    """A batch on a connection the database dropped fails (its handlers then store their lines alone); the next
    batch opens a new connection and is stored."""
    from helpdesk.channels.chat import writer

    conversation_id = chat(33).id
    db.session.remove()
    storage = writer.storage_for(db.engine, in_thread=db.engine.dialect.name == "postgresql")

    def write(client_id: str) -> list:
        batch = [writer._Waiting(service.VisitorLine(conversation_id, client_id, f"Line {client_id}", None))]
        storage.write(batch)
        return [waiting.ack for waiting in batch]

    try:
        assert write("r-1")[0]["id"]
        if db.engine.dialect.name == "postgresql":
            backend = storage._thread.apply(lambda: storage._connection.info.backend_pid)
            db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            db.session.commit()
        else:
            storage._connection.connection.dbapi_connection.close()
        with pytest.raises(Exception):  # noqa: B017 (the driver's own error for a closed connection)
            write("r-2")
        assert write("r-3")[0]["id"]
    finally:
        db.session.remove()
        storage.close()
    assert sorted(m.client_id for m in db.session.scalars(
        select(Message).where(Message.ticket_id == db.session.get(Conversation, conversation_id).ticket_id,
                              Message.client_id.like("r-%")))) == ["r-1", "r-3"]
