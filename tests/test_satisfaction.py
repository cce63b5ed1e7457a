"""Satisfaction: the survey a solved ticket sends (real worker, real SMTP), one-click ratings, low ratings."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from helpdesk import tickets
from helpdesk.extensions import db
from helpdesk.models import Message, Ticket
from helpdesk.models.selfservice import SatisfactionRating
from tests.support.live import emitted_through_redis
from workers.worker import run as run_worker


@pytest.fixture
def low_action() -> str:
    return "notify"


@pytest.fixture
def config_overrides(smtp_server, low_action):
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_server.port, "HELPDESK_LOW_RATING_ACTION": low_action}


def surveys(smtp) -> list:
    return [m for m in smtp.messages if m["Subject"].startswith(("How did we do?", "Comment avons-nous"))]


def solve(ticket, agent) -> None:
    tickets.reply(ticket, agent, "Fixed it for you.")
    tickets.set_status(ticket, "solved", agent)
    db.session.commit()


def one_click_links(mail) -> dict[int, str]:
    return {int(n): url.split("127.0.0.1:5000", 1)[1]
            for n, url in re.findall(r"^([1-5]) - [^:]+: (http://\S+)\r?$", mail.get_content(), re.M)}


def test_solving_sends_the_survey_once_and_one_click_rates(client, agent, make_ticket, smtp):
    ticket = make_ticket(subject="Broken printer", email="rita@example.com", name="Rita")
    solve(ticket, agent)
    run_worker(burst=True)
    smtp.wait_for(3)  # acknowledgement, agent reply, survey
    [mail] = surveys(smtp)
    assert mail["To"] == "rita@example.com" and mail["Auto-Submitted"] == "auto-generated"
    assert ticket.reference in mail["Subject"]
    assert mail["In-Reply-To"]  # threads with the conversation
    links = one_click_links(mail)
    assert sorted(links) == [1, 2, 3, 4, 5]

    from workers.satisfaction import send_survey

    assert send_survey(ticket.id) == "already sent"  # idempotent

    page = client.get(links[4])
    assert page.status_code == 200 and "4 out of 5" in page.get_data(as_text=True)
    row = db.session.scalar(select(SatisfactionRating))
    assert (row.ticket_id, row.customer_id, row.rating, row.comment) == (ticket.id, ticket.customer_id, 4, "")
    assert client.post(links[4], data={"rating": "5", "comment": "Quick and kind"}).status_code == 200
    db.session.refresh(row)
    assert (row.rating, row.comment) == (5, "Quick and kind")
    assert db.session.scalar(select(db.func.count(SatisfactionRating.id))) == 1


def test_rating_shows_on_the_console_ticket_and_customer(client, agent, make_ticket):
    from helpdesk.portal import satisfaction

    ticket = make_ticket(email="shown@example.com")
    solve(ticket, agent)
    satisfaction.rate(ticket, 5, "Great <b>job</b>")
    db.session.commit()
    client.post("/console/login", data={"email": agent.email, "password": "correct horse battery"})
    page = client.get(f"/console/tickets/{ticket.reference}").get_data(as_text=True)
    assert 'id="satisfaction-rating">5/5' in page and "Great &lt;b&gt;job&lt;/b&gt;" in page
    page = client.get(f"/console/customers/{ticket.customer_id}").get_data(as_text=True)
    assert 'id="satisfaction-average">5.0/5' in page


def test_portal_asks_for_a_rating_too(client, agent, make_ticket):
    from helpdesk.portal.links import ticket_key

    ticket = make_ticket(email="portal@example.com")
    solve(ticket, agent)
    client.get(f"/portal/tickets/{ticket.reference}?key={ticket_key(ticket)}")
    page = client.get(f"/portal/tickets/{ticket.reference}").get_data(as_text=True)
    assert "How did we do?" in page
    client.post(f"/portal/tickets/{ticket.reference}/rating", data={"rating": "3", "comment": "Slow"})
    row = db.session.scalar(select(SatisfactionRating))
    assert (row.rating, row.comment) == (3, "Slow")


def test_low_rating_notifies_the_team(client, agent, make_ticket):
    from helpdesk.portal import satisfaction

    ticket = make_ticket(email="low@example.com")
    tickets.assign(ticket, agent, agent)
    solve(ticket, agent)
    live = emitted_through_redis(client.application)
    assert client.get(f"/portal/rate/{satisfaction.rating_token(ticket, 1)}").status_code == 200
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.status == "solved"
    notes = db.session.scalars(select(Message).where(Message.ticket_id == ticket.id, Message.internal)).all()
    assert len(notes) == 1 and "1/5" in notes[0].body_text
    [event] = [e for e in live() if e.get("event") == "notification"]
    assert event["room"] == f"agent:{agent.id}" and event["namespace"] == "/agent"
    [payload] = event["data"]
    assert payload["reference"] == ticket.reference and payload["rating"] == 1


@pytest.mark.parametrize("low_action", ["reopen"])
def test_low_rating_can_reopen_instead(client, agent, make_ticket, low_action):
    from helpdesk.portal import satisfaction

    ticket = make_ticket(email="reopen@example.com")
    solve(ticket, agent)
    assert client.get(f"/portal/rate/{satisfaction.rating_token(ticket, 2)}").status_code == 200
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.status == "open" and ticket.solved_at is None
    assert not db.session.scalars(select(Message).where(Message.ticket_id == ticket.id, Message.internal)).all()


def test_good_rating_changes_nothing(client, agent, make_ticket):
    from helpdesk.portal import satisfaction

    ticket = make_ticket(email="good@example.com")
    solve(ticket, agent)
    client.get(f"/portal/rate/{satisfaction.rating_token(ticket, 5)}")
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == "solved"
