"""The customer portal: sign-in links, the ticket list and thread, reply, close, and who may see what."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from helpdesk import tickets
from helpdesk.extensions import db
from helpdesk.models import Message, Ticket, TicketEvent
from helpdesk.models.base import utcnow
from helpdesk.models.selfservice import PortalLoginToken, SatisfactionRating
from helpdesk.portal import satisfaction, tokens
from helpdesk.portal.links import ticket_key
from workers.worker import run as run_worker


@pytest.fixture
def config_overrides(smtp_server):
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_server.port}


def sign_in(client, customer) -> None:
    """Sign ``customer`` in through a fresh link, as the emailed link would."""
    link = tokens.issue(customer)
    db.session.commit()
    path = link.split("127.0.0.1:5000", 1)[1]
    assert client.post(path).status_code == 302


def tamper(token: str, at: int = -6) -> str:
    """Return ``token`` with one character changed (not the last: its low bits may not count)."""
    return token[:at] + ("B" if token[at] != "B" else "C") + token[at + 1:]


def with_file(ticket, name: str, internal: bool = False) -> Message:
    """Add a public reply (or an internal note) with a file to ``ticket``."""
    from helpdesk.models import Agent

    agent = db.session.scalar(select(Agent))
    files = [tickets.IncomingFile(name, "text/plain", f"secret of {name}".encode())]
    message = (tickets.add_note if internal else tickets.reply)(ticket, agent, f"body {name}", files)
    db.session.commit()
    return message


def test_request_a_link_by_email_and_sign_in_once(client, smtp, make_ticket):
    make_ticket(email="ann@example.com", name="Ann")
    response = client.post("/portal/", data={"email": "ANN@example.com"})
    assert response.status_code == 200 and 'id="sign-in-sent"' in response.get_data(as_text=True)
    run_worker(burst=True)
    mails = [m for m in smtp.wait_for(1) if "sign-in" in m["Subject"]]
    [mail] = mails
    assert mail["To"] == "ann@example.com" and mail["Auto-Submitted"] == "auto-generated"
    link = re.search(r"http://\S+/portal/sign-in/\S+", mail.get_content())[0]
    path = link.split("127.0.0.1:5000", 1)[1]

    assert client.get(path).status_code == 200  # a confirmation page: fetching it uses nothing
    assert client.post(path).status_code == 302
    page = client.get("/portal/").get_data(as_text=True)
    assert "My requests" in page and "ann@example.com" in page

    other = client.application.test_client()
    reused = other.post(path)
    assert reused.status_code == 400 and "expired or was already used" in reused.get_data(as_text=True)
    assert "My requests" not in other.get("/portal/").get_data(as_text=True)


def test_unknown_address_gets_the_same_answer(client, smtp, make_ticket):
    make_ticket(email="known@example.com")
    known = client.post("/portal/", data={"email": "known@example.com"}).get_data(as_text=True)
    unknown = client.post("/portal/", data={"email": "nobody@example.com"}).get_data(as_text=True)
    assert known.replace("known@example.com", "X") == unknown.replace("nobody@example.com", "X")
    run_worker(burst=True)
    smtp.wait_for(1)
    assert all(m["To"] != "nobody@example.com" for m in smtp.messages)
    assert db.session.scalar(select(func.count(PortalLoginToken.id))) == 1


def test_expired_link_does_not_sign_in(client, make_ticket):
    ticket = make_ticket(email="exp@example.com")
    link = tokens.issue(ticket.customer)
    db.session.commit()
    row = db.session.scalar(select(PortalLoginToken))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    path = link.split("127.0.0.1:5000", 1)[1]
    assert client.get(path).status_code == 400
    assert client.post(path).status_code == 400
    assert "My requests" not in client.get("/portal/").get_data(as_text=True)


def test_links_last_fifteen_minutes_and_store_only_a_hash(make_ticket):
    ticket = make_ticket(email="hash@example.com")
    link = tokens.issue(ticket.customer)
    db.session.commit()
    row = db.session.scalar(select(PortalLoginToken))
    assert row.expires_at - row.created_at == timedelta(minutes=15)
    assert link.rsplit("/", 1)[1] not in row.token_hash


def test_sign_in_requests_are_rate_limited(client, make_ticket):
    for n in range(5):
        assert client.post("/portal/", data={"email": f"x{n}@example.com"},
                           environ_base={"REMOTE_ADDR": "10.9.0.1"}).status_code == 200
    assert client.post("/portal/", data={"email": "y@example.com"},
                       environ_base={"REMOTE_ADDR": "10.9.0.1"}).status_code == 429
    for n in range(5):
        assert client.post("/portal/", data={"email": "same@example.com"},
                           environ_base={"REMOTE_ADDR": f"10.9.1.{n}"}).status_code == 200
    assert client.post("/portal/", data={"email": "same@example.com"},
                       environ_base={"REMOTE_ADDR": "10.9.2.1"}).status_code == 429


def test_list_shows_tickets_from_every_channel(client, make_ticket):
    by_mail = make_ticket(subject="By mail", email="all@example.com")
    by_web = make_ticket(subject="By web", email="all@example.com", channel="web", thread=False)
    by_phone = make_ticket(subject="By phone", email="all@example.com", channel="phone", thread=False)
    make_ticket(subject="Someone else's", email="else@example.com")
    sign_in(client, by_mail.customer)
    page = client.get("/portal/").get_data(as_text=True)
    for ticket in (by_mail, by_web, by_phone):
        assert f'data-reference="{ticket.reference}"' in page
    assert "Someone else" not in page
    assert "Web form" in page and "Phone" in page and "Email" in page


def test_thread_shows_public_messages_only(client, agent, make_ticket):
    ticket = make_ticket(subject="Thread", body="First words", email="thread@example.com")
    tickets.reply(ticket, agent, "A public answer")
    tickets.add_note(ticket, agent, "INTERNAL: customer is difficult")
    db.session.commit()
    sign_in(client, ticket.customer)
    page = client.get(f"/portal/tickets/{ticket.reference}").get_data(as_text=True)
    assert "First words" in page and "A public answer" in page
    assert "INTERNAL" not in page and "threading" not in page


def test_reply_reopens_a_solved_ticket_and_adds_files(client, agent, make_ticket):
    import io

    ticket = make_ticket(email="reopen@example.com")
    tickets.set_status(ticket, "solved", agent)
    db.session.commit()
    sign_in(client, ticket.customer)
    response = client.post(f"/portal/tickets/{ticket.reference}/reply",
                           data={"body": "Still broken", "attachments": [(io.BytesIO(b"log"), "log.txt")]},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.refresh(ticket)
    assert ticket.status == "open"
    last = ticket.messages[-1]
    assert last.body_text == "Still broken" and last.author_type == "customer" and last.channel == "web"
    assert [a.filename for a in last.attachments] == ["log.txt"]
    empty = client.post(f"/portal/tickets/{ticket.reference}/reply", data={"body": " "})
    assert empty.status_code == 400 and "Write your reply." in empty.get_data(as_text=True)


def test_customer_closes_their_ticket(client, make_ticket):
    ticket = make_ticket(email="close@example.com")
    sign_in(client, ticket.customer)
    assert client.post(f"/portal/tickets/{ticket.reference}/close").status_code == 302
    db.session.refresh(ticket)
    assert ticket.status == "solved"
    kinds = db.session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)).all()
    assert "closed_by_customer" in kinds


def test_acknowledgement_link_opens_that_ticket_only(client, make_ticket):
    first = make_ticket(subject="First", email="two@example.com")
    second = make_ticket(subject="Second", email="two@example.com")
    response = client.get(f"/portal/tickets/{first.reference}?key={ticket_key(first)}")
    assert response.status_code == 302
    assert client.get(f"/portal/tickets/{first.reference}").status_code == 200
    assert client.get(f"/portal/tickets/{second.reference}").status_code == 404
    assert client.get(f"/portal/tickets/{second.reference}?key={ticket_key(first)}").status_code == 404
    assert "My requests" not in client.get("/portal/").get_data(as_text=True)
    assert client.get(f"/portal/tickets/{first.reference}?key=forged").status_code == 200  # already granted
    fresh = client.application.test_client()
    assert fresh.get(f"/portal/tickets/{first.reference}?key=forged").status_code == 404


def test_another_customers_tickets_messages_and_attachments_are_404_everywhere(app, client, agent, make_ticket):
    mine = make_ticket(subject="Mine", email="a@example.com")
    theirs = make_ticket(subject="Theirs", email="b@example.com")
    my_note = with_file(mine, "my-note.txt", internal=True)
    their_public = with_file(theirs, "their.txt")
    their_note = with_file(theirs, "their-note.txt", internal=True)
    tickets.set_status(theirs, "solved", agent)
    tickets.set_status(mine, "solved", agent)
    db.session.commit()
    before = (theirs.status, len(theirs.messages), db.session.scalar(select(func.count(SatisfactionRating.id))))
    sign_in(client, mine.customer)

    ref = theirs.reference
    attempts = [
        ("get", f"/portal/tickets/{ref}", None),
        ("get", f"/portal/tickets/{ref}?key={ticket_key(mine)}", None),
        ("get", f"/portal/tickets/{ref}?key={tamper(ticket_key(theirs))}", None),
        ("post", f"/portal/tickets/{ref}/reply", {"body": "hijack"}),
        ("post", f"/portal/tickets/{ref}/close", {}),
        ("post", f"/portal/tickets/{ref}/rating", {"rating": "1", "comment": "bad"}),
        ("get", f"/portal/tickets/HD-{theirs.id + 1000}", None),
        ("get", "/portal/tickets/HD-999999", None),
        ("get", "/portal/tickets/../../console/", None),
    ]
    attempts += [("get", f"/portal/attachments/{a.id}", None)
                 for a in [*their_public.attachments, *their_note.attachments, *my_note.attachments]]
    attempts += [("get", "/portal/attachments/999999", None)]
    good = satisfaction.rating_token(mine, 5)
    for bad in (tamper(good), tamper(satisfaction.rating_token(theirs, 5)), "garbage", good + "x",
                tamper(good, at=2)):
        attempts += [("get", f"/portal/rate/{bad}", None), ("post", f"/portal/rate/{bad}", {"rating": "1"})]
    for method, url, data in attempts:
        response = getattr(client, method)(url, data=data) if method == "post" else client.get(url)
        assert response.status_code == 404, (method, url, response.status_code)
    db.session.expire_all()
    theirs = db.session.get(Ticket, theirs.id)
    after = (theirs.status, len(theirs.messages), db.session.scalar(select(func.count(SatisfactionRating.id))))
    assert after == before
    # their ticket's own one-click link still works for them, not a tampered one
    assert client.get(f"/portal/rate/{satisfaction.rating_token(theirs, 4)}").status_code == 200


def test_signed_in_customer_reads_and_downloads_their_own_files(client, agent, make_ticket):
    ticket = make_ticket(email="files@example.com")
    public = with_file(ticket, "answer.txt")
    sign_in(client, ticket.customer)
    [item] = public.attachments
    response = client.get(f"/portal/attachments/{item.id}")
    assert response.status_code == 200 and response.data == b"secret of answer.txt"
    assert "attachment" in response.headers["Content-Disposition"]


def test_agent_session_is_not_a_customer_session(client, agent, make_ticket):
    ticket = make_ticket(email="c@example.com")
    response = client.post("/console/login", data={"email": agent.email, "password": "correct horse battery"})
    assert response.status_code == 302
    assert client.get(f"/portal/tickets/{ticket.reference}").status_code == 404
    assert "My requests" not in client.get("/portal/").get_data(as_text=True)
    sign_in(client, ticket.customer)
    assert client.get("/console/tickets").status_code == 200  # both live side by side
    assert client.post("/portal/sign-out").status_code == 302
    assert client.get(f"/portal/tickets/{ticket.reference}").status_code == 404
    assert client.get("/console/tickets").status_code == 200
