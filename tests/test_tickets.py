"""The ticket service: receiving and threading, merging, the event log, attachments, sanitising, effects."""

from __future__ import annotations

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import delete, func, select, update

from helpdesk import storage, tickets
from helpdesk.effects import on_commit
from helpdesk.extensions import db
from helpdesk.models import Customer, CustomerIdentity, Message, Tag, Team, Ticket, TicketEvent
from helpdesk.sanitize import clean_html, html_to_text, text_to_html
from helpdesk.tickets import Contact, Inbound, IncomingFile


def receive(email: str | None = "pat@example.com", subject: str = "Help", body: str = "It broke.", **fields):
    """Receive one email-channel message and commit; return what receive did."""
    contact = fields.pop("contact", None) or Contact(email=email, name=fields.pop("name", None))
    received = tickets.receive(Inbound(channel=fields.pop("channel", "email"), contact=contact, subject=subject,
                                       body_text=body, **fields))
    db.session.commit()
    return received


def events(ticket: Ticket, kind: str | None = None) -> list[TicketEvent]:
    """Return the ticket's events, oldest first (only ``kind`` when given; SLA clock events are tested elsewhere)."""
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind.notlike("sla.%"))
    stmt = stmt.order_by(TicketEvent.id)
    if kind:
        stmt = stmt.where(TicketEvent.kind == kind)
    return list(db.session.scalars(stmt))


def count(model) -> int:
    """Return how many rows ``model`` has."""
    return db.session.scalar(select(func.count()).select_from(model))


def mail_jobs(app) -> list:
    """Return the jobs waiting on the mail queue."""
    return Queue("mail", connection=Redis.from_url(app.config["REDIS_URL"])).get_jobs()


# -- identities ------------------------------------------------------------------


def test_same_email_in_another_case_is_the_same_customer(app):
    first = receive("Pat@Example.COM", subject="One")
    second = receive(" pat@example.com ", subject="Two")
    assert second.ticket.customer_id == first.ticket.customer_id
    assert second.ticket.id != first.ticket.id  # no reference, no Message-ID: a new ticket, never a subject match
    assert count(Customer) == 1
    assert [(i.kind, i.value) for i in first.ticket.customer.identities] == [("email", "pat@example.com")]


def test_a_contact_with_phone_and_email_joins_both_identities(app):
    by_email = receive("quinn@example.com", name="Quinn").ticket.customer
    call = tickets.receive(Inbound(channel="phone", contact=Contact(phone="(415) 555-0100", email="QUINN@example.com"),
                                   subject="Call", body_text="Called about the invoice", thread=False))
    db.session.commit()
    assert call.ticket.customer_id == by_email.id
    assert sorted((i.kind, i.value) for i in by_email.identities) == [
        ("email", "quinn@example.com"), ("phone", "+14155550100")]
    assert tickets.find_customer("phone", "+1 415-555-0100").id == by_email.id
    later = tickets.receive(Inbound(channel="phone", contact=Contact(phone="4155550100"), subject="Again",
                                    body_text="b", thread=False))
    assert later.ticket.customer_id == by_email.id
    assert count(Customer) == 1


def test_identities_are_normalised_or_refused(app):
    assert tickets.identities.normalize_phone("(415) 555-0100") == "+14155550100"
    assert tickets.identities.normalize_phone("+33 1 42 68 53 00") == "+33142685300"
    assert tickets.identities.normalize_phone("020 7946 0958", region="GB") == "+442079460958"
    for bad in ("12", "not a number", ""):
        with pytest.raises(tickets.InvalidIdentity):
            tickets.identities.normalize_phone(bad)
    for bad in ("nobody", "a@b@c", "<x>@example.com", ""):
        with pytest.raises(tickets.InvalidIdentity):
            tickets.identities.normalize_email(bad)
    with pytest.raises(tickets.InvalidIdentity):
        tickets.find_or_create_customer(Contact(name="Only A Name"))
    assert count(Customer) == 0


def test_a_new_name_does_not_overwrite_a_known_one(app):
    receive("rae@example.com", name="Rae Smith")
    customer = receive("rae@example.com", name="Mallory").ticket.customer
    assert customer.name == "Rae Smith"


def test_contacts_resolved_together_are_resolved_in_order(app):
    """What a mail batch does: one SELECT for the known, one INSERT each for new customers and identities."""
    known = receive("kim@example.com", name="").ticket.customer
    resolved = tickets.identities.find_or_create_customers([
        Contact(email="new@example.com", name="New Person"),
        Contact(email="NEW@example.com", phone="(415) 555-0199"),  # the same new customer, with a phone too
        Contact(email="kim@example.com", name="Kim"),  # known: gets the name it lacked
        Contact(email="kim@example.com", phone="(415) 555-0142"),  # known: gains a phone
        Contact(visitor="visitor-1"),
    ])
    assert [created for _, created in resolved] == [True, False, False, False, True]
    new, again, kim, kim_again, visitor = (customer for customer, _ in resolved)
    assert new is again and kim is kim_again is known and visitor is not new
    db.session.commit()
    db.session.expire_all()
    assert count(Customer) == 3
    assert new.name == "New Person" and kim.name == "Kim"
    assert sorted((i.kind, i.value) for i in new.identities) == [("email", "new@example.com"),
                                                                 ("phone", "+14155550199")]
    assert sorted((i.kind, i.value) for i in kim.identities) == [("email", "kim@example.com"),
                                                                 ("phone", "+14155550142")]
    assert tickets.find_customer("phone", "4155550199").id == new.id
    assert [c.id for c in db.session.scalars(select(Customer).order_by(Customer.id))] == [kim.id, new.id, visitor.id]


# -- threading -------------------------------------------------------------------


def test_in_reply_to_a_stored_message_id_threads_into_its_ticket(app):
    first = receive(subject="Order 1", external_id="<first@mail.example.com>")
    reply = receive(subject="Something else entirely", external_id="<second@mail.example.com>",
                    in_reply_to=["<first@mail.example.com>"])
    assert reply.ticket.id == first.ticket.id and not reply.created
    assert "In-Reply-To" in reply.message.meta["threading"]
    [logged] = events(first.ticket, "customer_message")
    assert logged.data["message_id"] == reply.message.id and logged.actor_type == "customer"
    unknown = receive(subject="Order 1", in_reply_to=["<never-seen@mail.example.com>"])
    assert unknown.created and unknown.ticket.id != first.ticket.id


def test_reference_in_subject_threads_only_for_the_tickets_customer(app):
    first = receive("sam@example.com", subject="Login broken")
    reply = receive("SAM@example.com", subject=f"Re: [{first.ticket.reference}] Login broken")
    assert reply.ticket.id == first.ticket.id and not reply.created
    stranger = receive("eve@example.com", subject=f"Re: [{first.ticket.reference}] Login broken")
    assert stranger.created and stranger.ticket.id != first.ticket.id
    assert stranger.ticket.customer.email == "eve@example.com"
    assert len(first.ticket.messages) == 2
    missing = receive("sam@example.com", subject="Re: [HD-99999] Something")
    assert missing.created


def test_a_reply_to_a_solved_ticket_reopens_it(app, agent):
    first = receive(subject="Printer")
    tickets.set_status(first.ticket, "solved", agent)
    db.session.commit()
    assert first.ticket.solved_at is not None
    again = receive(subject=f"Re: [{first.ticket.reference}] Printer", body="Still broken")
    assert again.ticket.id == first.ticket.id
    assert again.ticket.status == "open" and again.ticket.solved_at is None
    reopened = events(first.ticket, "status")[-1]
    assert reopened.data == {"from": "solved", "to": "open", "reason": "customer replied"}
    assert reopened.actor_type == "customer"


def test_a_reply_to_a_closed_ticket_opens_a_linked_follow_up(app, agent):
    first = receive(subject="Refund", external_id="<refund@mail.example.com>")
    tickets.set_status(first.ticket, "closed", agent)
    db.session.commit()
    again = receive(subject="Re: Refund", body="One more thing", in_reply_to=["<refund@mail.example.com>"])
    assert again.created
    follow_up = again.ticket
    assert follow_up.id != first.ticket.id
    assert follow_up.follow_up_of_id == first.ticket.id
    assert follow_up.customer_id == first.ticket.customer_id
    assert follow_up.status == "new" and first.ticket.status == "closed"
    assert [m.body_text for m in follow_up.messages] == ["One more thing"]
    [linked] = events(first.ticket, "followed_up")
    assert linked.data == {"by": follow_up.reference}
    assert first.ticket.reference in again.message.meta["threading"]


def test_a_duplicate_message_id_is_stored_once(app):
    first = receive(subject="Twice", external_id="<dup@mail.example.com>")
    again = receive(subject="Twice", external_id="<dup@mail.example.com>", body="resent by the server")
    assert again.duplicate and not again.created
    assert again.message.id == first.message.id and again.ticket.id == first.ticket.id
    assert count(Message) == 1 and count(Ticket) == 1
    assert len(events(first.ticket)) == 1  # only "created"


def test_a_chat_client_id_is_stored_once_per_ticket(app):
    first = receive(channel="chat", subject="Chat", contact=Contact(visitor="v-1", name="Visitor"))
    ticket_id = first.ticket.id
    one = receive(channel="chat", contact=Contact(visitor="v-1"), ticket_id=ticket_id, client_id="c-1", body="hi")
    two = receive(channel="chat", contact=Contact(visitor="v-1"), ticket_id=ticket_id, client_id="c-1", body="hi")
    assert two.duplicate and two.message.id == one.message.id
    assert count(Message) == 2


def test_a_logged_call_never_threads(app):
    first = receive("uma@example.com", subject="Hello", external_id="<u@mail.example.com>")
    call = tickets.receive(Inbound(channel="phone", contact=Contact(email="uma@example.com"),
                                   subject=f"[{first.ticket.reference}]", body_text="call",
                                   in_reply_to=["<u@mail.example.com>"], thread=False))
    assert call.created and call.ticket.id != first.ticket.id


# -- merge -----------------------------------------------------------------------


@pytest.fixture
def merged(app, agent):
    """Merge one customer's ticket into another customer's; return (source, target)."""
    source = receive("vic@example.com", subject="Dup", body="from source", external_id="<src@mail.example.com>")
    target = receive("wes@example.com", subject="Main", body="from target")
    tickets.set_tags(source.ticket, ["billing"], agent)
    tickets.set_tags(target.ticket, ["urgent-ish"], agent)
    tickets.merge(source.ticket, target.ticket, agent)
    db.session.commit()
    return source.ticket, target.ticket


def test_merge_moves_messages_and_closes_the_source(merged, agent):
    source, target = merged
    db.session.expire_all()
    assert [m.body_text for m in target.messages] == ["from source", "from target"]
    assert source.messages == []
    assert source.status == "closed" and source.closed_at is not None
    assert source.merged_into_id == target.id
    assert [t.name for t in target.tags] == ["billing", "urgent-ish"]
    [merged_from] = events(target, "merged_from")
    assert merged_from.data == {"source": source.reference, "messages": 1}
    assert merged_from.actor_agent_id == agent.id
    assert events(target, "merged_customer")[0].data == {"customer_id": source.customer_id}
    [merged_event] = events(source, "merged")
    assert merged_event.data == {"target": target.reference}
    assert events(source, "status")[-1].data == {"from": "new", "to": "closed"}


def test_merging_tickets_whose_messages_share_client_ids(app, agent):
    """Two chats both start with client id "start"; two email tickets both have an acknowledgement."""
    first, second = (tickets.receive(Inbound(channel="chat", contact=Contact(visitor=f"v{n}"), subject="Hi",
                                             body_text=f"chat {n}", client_id="start", thread=False))
                     for n in (1, 2))
    db.session.commit()
    tickets.merge(first.ticket, second.ticket, agent)
    db.session.commit()
    db.session.expire_all()
    assert sorted(m.client_id for m in second.ticket.messages) == sorted(["start", f"{first.ticket.reference}:start"])
    assert [m.body_text for m in second.ticket.messages] == ["chat 1", "chat 2"]


def test_a_merged_ticket_takes_no_more_changes(merged, agent, make_agent):
    source, target = merged
    with pytest.raises(tickets.TicketError, match=target.reference):
        tickets.reply(source, agent, "Hello?")
    with pytest.raises(tickets.TicketError):
        tickets.set_status(source, "open", agent)
    with pytest.raises(tickets.TicketError):
        tickets.merge(source, target, agent)
    with pytest.raises(tickets.TicketError):
        tickets.merge(target, source, agent)
    with pytest.raises(tickets.TicketError):
        tickets.merge(target, target, agent)


def test_inbound_mail_to_a_merged_ticket_lands_on_the_target(merged):
    source, target = merged
    by_header = receive("vic@example.com", subject="Re: Dup", in_reply_to=["<src@mail.example.com>"])
    assert by_header.ticket.id == target.id and not by_header.created
    by_subject = receive("vic@example.com", subject=f"Re: [{source.reference}] Dup")
    assert by_subject.ticket.id == target.id
    known = receive(contact=Contact(email="vic@example.com"), ticket_id=source.id, subject="", body="portal")
    assert known.ticket.id == target.id
    assert source.merged_into_id == target.id and source.status == "closed"


# -- the event log ---------------------------------------------------------------


def test_every_operation_appends_its_event(app, agent, make_agent):
    bob = make_agent(email="bob@helpdesk.test", name="Bob")
    team = Team(name="Billing")
    db.session.add(team)
    ticket = receive(subject="Log me").ticket
    [created] = events(ticket)
    assert (created.kind, created.actor_type, created.data) == ("created", "system", {"channel": "email", "team": None})

    tickets.assign(ticket, bob, agent)
    tickets.set_team(ticket, team, agent)
    tickets.set_priority(ticket, "high", agent)
    tickets.set_tags(ticket, ["VIP", "refund"], agent)
    tickets.set_tags(ticket, ["refund", "late"], agent)
    note = tickets.add_note(ticket, agent, "internal thought")
    reply = tickets.reply(ticket, agent, "public answer")
    tickets.set_status(ticket, "solved", agent)
    tickets.assign(ticket, None, agent)
    db.session.commit()

    logged = [(e.kind, e.data) for e in events(ticket)][1:]
    assert logged == [
        ("assignee", {"from": None, "to": "bob@helpdesk.test"}),
        ("status", {"from": "new", "to": "open"}),
        ("team", {"from": None, "to": "Billing"}),
        ("priority", {"from": "normal", "to": "high"}),
        ("tags", {"added": ["refund", "vip"], "removed": []}),
        ("tags", {"added": ["late"], "removed": ["vip"]}),
        ("note", {"message_id": note.id}),
        ("reply", {"message_id": reply.id}),
        ("status", {"from": "open", "to": "solved"}),
        ("assignee", {"from": "bob@helpdesk.test", "to": None}),
    ]
    assert {(e.actor_type, e.actor_agent_id) for e in events(ticket)[1:]} == {("agent", agent.id)}
    assert all(e.created_at.utcoffset() is not None for e in events(ticket))


def test_a_change_to_the_same_value_logs_nothing(app, agent):
    ticket = receive().ticket
    before = len(events(ticket))
    tickets.set_status(ticket, "new", agent)
    tickets.set_priority(ticket, "normal", agent)
    tickets.assign(ticket, None, agent)
    tickets.set_team(ticket, None, agent)
    tickets.set_tags(ticket, [], agent)
    db.session.commit()
    assert len(events(ticket)) == before


def test_bad_values_are_refused(app, agent):
    ticket = receive().ticket
    with pytest.raises(tickets.TicketError):
        tickets.set_status(ticket, "reopened", agent)
    with pytest.raises(tickets.TicketError):
        tickets.set_priority(ticket, "critical", agent)
    with pytest.raises(tickets.TicketError):
        tickets.reply(ticket, agent, "   ")
    with pytest.raises(tickets.TicketError):
        tickets.add_note(ticket, agent, "")
    agent.active = False
    with pytest.raises(tickets.TicketError):
        tickets.assign(ticket, agent, agent)


def test_events_cannot_be_updated(app, agent):
    ticket = receive().ticket
    [created] = events(ticket)
    created.data = {"channel": "forged"}
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    created.kind = "forged"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert events(ticket)[0].kind == "created"


def test_events_cannot_be_deleted(app):
    ticket = receive().ticket
    db.session.delete(events(ticket)[0])
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert len(events(ticket)) == 1


def test_events_cannot_be_changed_by_bulk_statements(app):
    ticket = receive().ticket
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.execute(update(TicketEvent).values(kind="forged"))
    db.session.rollback()
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.execute(delete(TicketEvent).where(TicketEvent.ticket_id == ticket.id))
    db.session.rollback()
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.execute(update(TicketEvent.__table__).values(kind="forged"))
    db.session.rollback()
    assert [e.kind for e in events(ticket)] == ["created"]


# -- attachments -----------------------------------------------------------------


@pytest.fixture
def attachment_dir(app, tmp_path):
    """Store attachments in an empty directory of this test's own."""
    app.config["ATTACHMENT_DIR"] = str(tmp_path)
    return tmp_path


def files_in(directory) -> list:
    """Return every file under ``directory``."""
    return [p for p in directory.rglob("*") if p.is_file()]


def test_the_same_bytes_are_stored_once(app, agent, attachment_dir):
    data = b"%PDF-1.4 the same invoice"
    first = receive(subject="Invoice", attachments=[IncomingFile("invoice.pdf", "application/pdf", data)])
    second = receive("other@example.com", subject="Same invoice",
                     attachments=[IncomingFile("copy.pdf", "application/pdf", data)])
    tickets.reply(first.ticket, agent, "Here it is back", files=[IncomingFile("again.pdf", "application/pdf", data)])
    db.session.commit()
    [a] = first.message.attachments
    [b] = second.message.attachments
    assert a.sha256 == b.sha256 and (a.filename, b.filename) == ("invoice.pdf", "copy.pdf")
    assert a.size == len(data) and a.content_type == "application/pdf"
    assert files_in(attachment_dir) == [storage.path_for(a.sha256)]
    assert storage.load(a.sha256) == data
    receive("third@example.com", attachments=[IncomingFile("other.txt", "text/plain", b"different bytes")])
    assert len(files_in(attachment_dir)) == 2


def test_an_attachment_over_the_limit_is_refused(app, agent, attachment_dir):
    app.config["MAX_ATTACHMENT_BYTES"] = 10
    storage.store(b"0123456789")
    with pytest.raises(storage.AttachmentTooLarge):
        storage.store(b"0123456789A")
    ticket = receive().ticket
    with pytest.raises(storage.AttachmentTooLarge):
        tickets.reply(ticket, agent, "see attached", files=[IncomingFile("big.bin", "application/octet-stream",
                                                                         b"x" * 11)])
    db.session.rollback()
    assert len(files_in(attachment_dir)) == 1
    assert [m.author_type for m in ticket.messages] == ["customer"]


def test_inbound_mail_keeps_its_text_when_an_attachment_is_too_large(app, attachment_dir):
    app.config["MAX_ATTACHMENT_BYTES"] = 10
    received = receive(body="see the video", attachments=[IncomingFile("video.mp4", "video/mp4", b"x" * 11),
                                                          IncomingFile("note.txt", "text/plain", b"small")])
    assert [a.filename for a in received.message.attachments] == ["note.txt"]
    assert received.message.meta["skipped_attachments"] == ["video.mp4 (11 bytes)"]
    assert received.message.body_text == "see the video"


# -- sanitising ------------------------------------------------------------------


@pytest.mark.parametrize(
    "markup",
    [
        '<p>Hi</p><script>alert("x")</script>',
        '<img src="https://example.com/a.png" onerror="alert(1)">',
        '<a href="javascript:alert(1)">click</a>',
        '<a href=" JaVaScRiPt:alert(1)">click</a>',
        '<div onclick="steal()" style="background:url(javascript:alert(1))">text</div>',
        '<iframe src="https://evil.example"></iframe><object data="x"></object><embed src="x">',
        '<svg onload="alert(1)"><circle /></svg>',
        '<form action="https://evil.example"><input name="password"></form>',
        "<style>body{display:none}</style><p>visible</p>",
        "<!-- <script>alert(1)</script> -->",
    ],
)
def test_clean_html_strips_anything_that_runs_script(markup):
    cleaned = clean_html(markup).lower()
    for dangerous in ("<script", "onerror", "onclick", "onload", "javascript:", "<iframe", "<object", "<embed",
                      "<svg", "<form", "<input", "<style", "style=", "<!--"):
        assert dangerous not in cleaned, (markup, cleaned)


def test_clean_html_keeps_ordinary_formatting():
    markup = '<p>Hello <b>Bob</b>, see <a href="https://example.com/x">this</a>.</p><ul><li>one</li></ul>'
    cleaned = clean_html(markup)
    assert "<b>Bob</b>" in cleaned and "<li>one</li>" in cleaned
    assert 'href="https://example.com/x"' in cleaned and 'rel="noopener noreferrer nofollow"' in cleaned


def test_received_html_is_stored_sanitised(app):
    received = receive(body="hi", body_html='<p onclick="x()">Hi</p><script>steal()</script>')
    assert received.message.body_html == "<p>Hi</p>"
    assert receive(body="plain only").message.body_html is None


def test_text_becomes_escaped_html():
    assert text_to_html("a < b & <script>\n\nsee https://example.com/x?a=1") == (
        '<p>a &lt; b &amp; &lt;script&gt;</p><p>see <a href="https://example.com/x?a=1" '
        'rel="noopener noreferrer nofollow">https://example.com/x?a=1</a></p>'
    )
    assert html_to_text("<p>One</p><script>bad()</script><p>Two &amp; three</p>") == "One\n Two & three"


# -- after-commit effects --------------------------------------------------------


def test_effects_run_after_commit_only(app):
    calls = []
    on_commit(calls.append, "first")
    on_commit(calls.append, "second")
    db.session.flush()
    assert calls == []
    db.session.commit()
    assert calls == ["first", "second"]
    db.session.commit()
    assert calls == ["first", "second"]  # each effect runs once


def test_effects_are_dropped_on_rollback(app):
    calls = []
    on_commit(calls.append, "undone")
    db.session.rollback()
    db.session.commit()
    assert calls == []


def test_a_failing_effect_does_not_stop_the_others(app):
    calls = []
    on_commit(lambda: 1 / 0)
    on_commit(calls.append, "still runs")
    db.session.commit()
    assert calls == ["still runs"]


def test_effects_wait_for_the_outer_commit_not_a_savepoint(app):
    calls = []
    with db.session.begin_nested():
        on_commit(calls.append, "in savepoint")
    assert calls == []
    db.session.commit()
    assert calls == ["in savepoint"]


def test_a_rolled_back_savepoint_drops_only_its_own_effects(app):
    calls = []
    on_commit(calls.append, "outer")
    with pytest.raises(ZeroDivisionError), db.session.begin_nested():
        on_commit(calls.append, "inner")
        raise ZeroDivisionError
    with db.session.begin_nested():
        on_commit(calls.append, "kept")
    db.session.commit()
    assert calls == ["outer", "kept"]


def test_a_reply_is_queued_for_delivery_only_once_committed(app, agent):
    ticket = receive().ticket
    tickets.reply(ticket, agent, "rolled back")
    assert mail_jobs(app) == []
    db.session.rollback()
    db.session.commit()
    assert mail_jobs(app) == []
    message = tickets.reply(ticket, agent, "sent")
    db.session.commit()
    [job] = mail_jobs(app)
    assert job.args == (message.id,)
    assert db.session.get(Message, message.id).delivery_status == "pending"


def test_tags_are_shared_rows(app, agent):
    one, two = receive().ticket, receive("x@example.com").ticket
    tickets.set_tags(one, ["Billing Issue"], agent)
    tickets.set_tags(two, ["billing   issue", "  "], agent)
    db.session.commit()
    assert [t.name for t in two.tags] == ["billing-issue"]
    assert count(Tag) == 1
    assert db.session.scalar(select(CustomerIdentity.value).where(CustomerIdentity.kind == "email").limit(1))


def test_after_commit_effects_may_read_the_database(app):
    """Effects run once the transaction has ended, so they can load what was committed."""
    from helpdesk.effects import on_commit

    ticket = receive(subject="Readable").ticket
    seen = []
    on_commit(lambda: seen.append(db.session.get(Ticket, ticket.id).subject))
    db.session.commit()
    assert seen == ["Readable"]
