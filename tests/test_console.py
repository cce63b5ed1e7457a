"""The agent console: sign-in, lists, a ticket's page, customers, calls, admin, and its defences."""

from __future__ import annotations

import re

import pytest
from flask import g
from sqlalchemy import select

from helpdesk import tickets
from helpdesk.accounts import save_team
from helpdesk.extensions import db
from helpdesk.models import CannedResponse, Customer, Message, Team, Ticket, TicketEvent
from helpdesk.tickets.queries import COUNT_CAP

PASSWORD = "correct horse battery"


def sign_in(client, agent, remember=False):
    """Sign ``agent`` in through the form; return the response."""
    data = {"email": agent.email, "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    return client.post("/console/login", data=data)


@pytest.fixture
def signed_in(client, agent):
    """Return the client signed in as the plain agent."""
    assert sign_in(client, agent).status_code == 302
    return client


def _session_cookie(client) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


# Sign-in -----------------------------------------------------------------------------------------------------


def test_login_page_labels(client):
    page = client.get("/console/login").get_data(as_text=True)
    assert re.search(r'<label for="email">Email</label>', page)
    assert re.search(r'<label for="password">Password</label>', page)
    assert "Keep me signed in" in page


def test_wrong_password_is_400_with_message(client, agent):
    response = client.post("/console/login", data={"email": agent.email, "password": "wrong password"})
    assert response.status_code == 400
    assert "do not match an active agent" in response.get_data(as_text=True)


def test_login_renews_session_and_remember_cookie_expires(client, agent):
    assert client.get("/console/tickets").status_code == 302  # leaves a flash in a fresh session
    before = _session_cookie(client)
    assert before
    response = sign_in(client, agent, remember=True)
    assert response.status_code == 302
    assert _session_cookie(client) != before
    remember = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token=")]
    assert remember and "Expires=" in remember[0]
    assert client.get("/console/tickets").status_code == 200


def test_logout(signed_in):
    page = signed_in.get("/console/tickets").get_data(as_text=True)
    assert "Sign out" in page
    assert signed_in.post("/console/logout").status_code == 302
    assert signed_in.get("/console/tickets").status_code == 302


def test_pages_need_sign_in(client):
    for path in ("/console/tickets", "/console/customers", "/console/calls/new", "/console/admin/agents"):
        response = client.get(path)
        assert response.status_code == 302 and "/console/login" in response.headers["Location"], path


# Pages render ------------------------------------------------------------------------------------------------


def test_every_page_renders_for_an_agent(signed_in, make_ticket):
    ticket = make_ticket(subject="Printer on fire")
    for path in (
        "/console/tickets",
        f"/console/tickets/{ticket.reference}",
        "/console/customers",
        f"/console/customers/{ticket.customer_id}",
        "/console/calls/new",
        "/console/calls/lookup?phone=4155550100",
    ):
        response = signed_in.get(path)
        assert response.status_code == 200, path
        assert "style=" not in response.get_data(as_text=True), path  # the CSP forbids inline styles
        assert "<script>" not in response.get_data(as_text=True), path


def test_empty_views_say_what_to_do(signed_in):
    page = signed_in.get("/console/tickets?view=mine").get_data(as_text=True)
    assert "You have no open tickets" in page and "Unassigned" in page


def test_views_and_counts(signed_in, agent, make_ticket):
    mine = make_ticket(subject="Mine")
    tickets.assign(mine, agent, agent)
    pending = make_ticket(subject="Waiting")
    tickets.set_status(pending, "pending", agent)
    make_ticket(subject="Chat one", channel="chat")
    db.session.commit()

    page = signed_in.get("/console/tickets?view=mine").get_data(as_text=True)
    assert mine.reference in page and pending.reference not in page
    counts = dict(re.findall(r'<span class="view-label">(?:<span[^>]*></span>)?([^<]+)</span>\s*'
                             r'<span class="count"[^>]*>([^<]+)</span>', page))
    assert counts["My open"] == "1"
    assert counts["Unassigned"] == "2"
    assert counts["All open"] == "3"
    assert counts["Pending"] == "1"
    assert counts["Chat"] == "1"
    assert counts["Email"] == "2"
    page = signed_in.get("/console/tickets?view=channel:chat").get_data(as_text=True)
    assert "Chat one" in page and "Mine" not in page


def test_count_cap_label(app):
    from helpdesk.console.display import count_label

    assert count_label(COUNT_CAP) == "1000+"
    assert count_label(999) == "999"


def test_keyset_pagination_has_no_duplicates_or_gaps(signed_in, make_ticket):
    made = {make_ticket(subject=f"Ticket number {n}").reference for n in range(60)}
    for sort in ("newest", "oldest", "updated", "priority"):
        seen: list[str] = []
        url = f"/console/tickets?view=all&sort={sort}"
        pages = 0
        while url:
            page = signed_in.get(url).get_data(as_text=True)
            seen += re.findall(r'<tr data-reference="([^"]+)"', page)
            pages += 1
            found = re.search(r'<a class="btn btn-small" rel="next" href="([^"]+)"', page)
            url = found[1].replace("&amp;", "&") if found else None
            if pages > 1:
                assert "First page" in page
        assert pages == 3, sort
        assert len(seen) == len(set(seen)) == 60, sort
        assert set(seen) == made, sort


def test_search(signed_in, make_ticket):
    fire = make_ticket(subject="Printer on fire", body="Smoke everywhere")
    other = make_ticket(subject="Invoice question", email="dana@acme.example", name="Dana Scully")
    page = signed_in.get("/console/tickets?q=smoke").get_data(as_text=True)
    assert fire.reference in page and other.reference not in page
    page = signed_in.get("/console/tickets?q=scully").get_data(as_text=True)
    assert other.reference in page and fire.reference not in page
    page = signed_in.get("/console/tickets?q=zebra").get_data(as_text=True)
    assert "No tickets match" in page
    page = signed_in.get("/console/customers?q=dana").get_data(as_text=True)
    assert "Dana Scully" in page


# A ticket's page ---------------------------------------------------------------------------------------------


def test_ticket_page_shows_conversation_customer_and_log(signed_in, agent, make_ticket):
    first = make_ticket(subject="Old problem", email="carol@example.com", channel="web")
    ticket = make_ticket(subject="New problem", email="carol@example.com", channel="email",
                         external_id="<m1@example.com>", meta={"spam": "no"})
    tickets.add_note(ticket, agent, "Checked the logs, nothing there.")
    db.session.add(CannedResponse(title="Thanks", body="Thanks for writing in!"))
    db.session.commit()
    page = signed_in.get(f"/console/tickets/{ticket.reference}").get_data(as_text=True)
    assert "Checked the logs" in page and "msg-note" in page and "Internal note" in page
    assert first.reference in page  # the customer's earlier ticket, another channel
    assert "threading" in page  # message meta decisions shown
    assert 'data-canned="Thanks for writing in!"' in page
    assert "created the ticket on email" in page  # the event log
    assert "Send and mark solved" in page
    assert "built-in method" not in page  # no error box when nothing failed


def test_reply_note_and_properties_through_forms(signed_in, agent, make_agent, make_ticket):
    bob = make_agent(name="Bob Builder")
    team = save_team("Billing")
    db.session.commit()
    ticket = make_ticket(subject="Refund please")
    ref = ticket.reference

    response = signed_in.post(f"/console/tickets/{ref}/reply", data={"body": "Refund on its way.", "then": "solved"})
    assert response.status_code == 302
    response = signed_in.post(f"/console/tickets/{ref}/note", data={"body": "Approved by finance."})
    assert response.status_code == 302
    response = signed_in.post(f"/console/tickets/{ref}/update", data={
        "status": "pending", "priority": "high", "assignee": str(bob.id), "team": str(team.id),
        "tags": "Refund, vip customer,",
    })
    assert response.status_code == 302
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    bodies = [(m.author_type, m.internal, m.body_text) for m in ticket.messages]
    assert bodies[1:] == [("agent", False, "Refund on its way."), ("agent", True, "Approved by finance.")]
    assert (ticket.status, ticket.priority, ticket.assignee_id, ticket.team_id) == ("pending", "high", bob.id,
                                                                                    team.id)
    assert [t.name for t in ticket.tags] == ["refund", "vip-customer"]
    kinds = db.session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)).all()
    assert {"reply", "note", "status", "priority", "assignee", "team", "tags"} <= set(kinds)

    page = signed_in.get(f"/console/tickets/{ref}").get_data(as_text=True)
    assert "Refund on its way." in page and "Approved by finance." in page

    empty = signed_in.post(f"/console/tickets/{ref}/reply", data={"body": "  "})
    assert empty.status_code == 400 and "Write a reply before sending." in empty.get_data(as_text=True)


def test_reply_with_attachment(signed_in, make_ticket):
    import io

    ticket = make_ticket()
    response = signed_in.post(
        f"/console/tickets/{ticket.reference}/reply",
        data={"body": "Here is the form.", "files": (io.BytesIO(b"%PDF-1.4 hello"), "form.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    page = signed_in.get(f"/console/tickets/{ticket.reference}").get_data(as_text=True)
    link = re.search(r'href="(/console/attachments/\d+)"[^>]*>form.pdf<', page)
    assert link
    assert signed_in.get(link[1]).data == b"%PDF-1.4 hello"


def test_take_and_merge(signed_in, agent, make_ticket):
    source = make_ticket(subject="Duplicate", email="erin@example.com")
    target = make_ticket(subject="Original", email="erin@example.com")
    assert signed_in.post(f"/console/tickets/{target.reference}/take").status_code == 302
    bad = signed_in.post(f"/console/tickets/{source.reference}/merge", data={"target": "HD-999999"})
    assert bad.status_code == 400 and "There is no ticket HD-999999" in bad.get_data(as_text=True)
    response = signed_in.post(f"/console/tickets/{source.reference}/merge", data={"target": target.reference})
    assert response.status_code == 302 and response.headers["Location"].endswith(target.reference)
    db.session.expire_all()
    assert db.session.get(Ticket, source.id).merged_into_id == target.id
    assert db.session.get(Ticket, target.id).assignee_id == agent.id
    page = signed_in.get(f"/console/tickets/{source.reference}").get_data(as_text=True)
    assert "was merged into" in page


def test_unknown_and_restricted_tickets_are_404(signed_in, make_agent, make_ticket):
    assert signed_in.get("/console/tickets/HD-424242").status_code == 404
    assert signed_in.get("/console/tickets/nonsense").status_code == 404
    insider = make_agent(name="Insider")
    secret = save_team("Security", restricted=True, members=[insider])
    ticket = make_ticket(subject="Vulnerability report")
    tickets.set_team(ticket, secret)
    db.session.commit()
    response = signed_in.get(f"/console/tickets/{ticket.reference}")
    assert response.status_code == 404
    assert "Nothing here" in response.get_data(as_text=True)
    assert signed_in.post(f"/console/tickets/{ticket.reference}/reply", data={"body": "x"}).status_code == 404
    assert ticket.reference not in signed_in.get("/console/tickets?view=all").get_data(as_text=True)


# Customers and calls -----------------------------------------------------------------------------------------


def test_customer_page_edit_and_identity(signed_in, agent, make_ticket):
    ticket = make_ticket(subject="Where is my order", email="frank@example.com", name="Frank")
    tickets.reply(ticket, agent, "Shipped yesterday.")
    db.session.commit()
    url = f"/console/customers/{ticket.customer_id}"
    page = signed_in.get(url).get_data(as_text=True)
    assert "Where is my order" in page and "Shipped yesterday." in page
    response = signed_in.post(url, data={"name": "Frank Castle", "vip": "y", "language": "fr",
                                         "account_owner": str(agent.id)})
    assert response.status_code == 302
    response = signed_in.post(f"{url}/identities", data={"kind": "phone", "value": "(415) 555-0199"})
    assert response.status_code == 302
    bad = signed_in.post(f"{url}/identities", data={"kind": "phone", "value": "12"})
    assert bad.status_code == 400 and "not a possible phone number" in bad.get_data(as_text=True)
    db.session.expire_all()
    customer = db.session.get(Customer, ticket.customer_id)
    assert (customer.name, customer.vip, customer.language, customer.account_owner_id) == (
        "Frank Castle", True, "fr", agent.id)
    assert customer.phone == "+14155550199"
    assert "Frank Castle" in signed_in.get("/console/customers?q=castle").get_data(as_text=True)
    assert "VIP" in signed_in.get(f"/console/tickets/{ticket.reference}").get_data(as_text=True)


def test_log_a_call_finds_caller_by_another_format(signed_in, agent, make_ticket):
    earlier = make_ticket(subject="Billing mix-up", email="gina@example.com", name="Gina")
    from helpdesk.customers import add_identity

    add_identity(earlier.customer, "phone", "+1 (415) 555-0100")
    db.session.commit()

    panel = signed_in.get("/console/calls/lookup?phone=415.555.0100").get_data(as_text=True)
    assert "Gina" in panel and earlier.reference in panel
    page = signed_in.post("/console/calls/new", data={"phone": "415.555.0100", "action": "lookup"})
    assert "Billing mix-up" in page.get_data(as_text=True)

    response = signed_in.post("/console/calls/new", data={
        "phone": "415.555.0100", "subject": "Called about the invoice", "notes": "Wants a copy by mail.",
        "action": "create",
    })
    assert response.status_code == 302
    ticket = db.session.scalar(select(Ticket).where(Ticket.subject == "Called about the invoice"))
    assert ticket.channel == "phone" and ticket.customer_id == earlier.customer_id
    assert response.headers["Location"].endswith(f"/console/tickets/{ticket.reference}")
    event = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                        TicketEvent.kind == "created"))
    assert event.actor_agent_id == agent.id


def test_log_a_call_from_a_new_caller(signed_in):
    panel = signed_in.get("/console/calls/lookup", query_string={"phone": "+44 20 7946 0958"})
    assert "New caller" in panel.get_data(as_text=True)
    bad = signed_in.post("/console/calls/new", data={"phone": "12", "subject": "x", "notes": "y"})
    assert bad.status_code == 400 and "not a possible phone number" in bad.get_data(as_text=True)
    response = signed_in.post("/console/calls/new", data={
        "phone": "+44 20 7946 0958", "name": "Harry Hole", "email": "harry@example.no",
        "subject": "Locked out", "notes": "Cannot sign in since Monday.",
    })
    assert response.status_code == 302
    customer = db.session.scalar(select(Customer).where(Customer.name == "Harry Hole"))
    assert (customer.phone, customer.email) == ("+442079460958", "harry@example.no")
    message = db.session.scalar(select(Message).where(Message.author_customer_id == customer.id))
    assert message.channel == "phone" and message.body_text == "Cannot sign in since Monday."


# Admin -------------------------------------------------------------------------------------------------------


def test_admin_pages_are_403_for_agents(signed_in):
    for path in ("/console/admin/agents", "/console/admin/teams", "/console/admin/teams/new",
                 "/console/admin/canned"):
        response = signed_in.get(path)
        assert response.status_code == 403, path
        assert "You do not have access" in response.get_data(as_text=True)
    assert signed_in.post("/console/admin/canned", data={"title": "x", "body": "y"}).status_code == 403


def test_admin_manages_agents_teams_and_canned(client, admin, agent):
    sign_in(client, admin)
    assert client.get("/console/admin/agents").status_code == 200
    response = client.post("/console/admin/agents", data={
        "email": "ivy@helpdesk.test", "name": "Ivy", "role": "agent", "password": "a long password"})
    assert response.status_code == 302
    short = client.post("/console/admin/agents", data={
        "email": "jay@helpdesk.test", "name": "Jay", "role": "agent", "password": "short"})
    assert short.status_code == 400 and "at least 8 characters" in short.get_data(as_text=True)
    response = client.post(f"/console/admin/agents/{agent.id}", data={
        "email": agent.email, "name": "Alice Renamed", "role": "agent", "password": ""})
    assert response.status_code == 302
    assert client.post(f"/console/admin/agents/{agent.id}/active").status_code == 302
    db.session.expire_all()
    assert agent.name == "Alice Renamed" and not agent.active
    assert client.post("/console/login").status_code in (302, 400)

    response = client.post("/console/admin/teams/new", data={
        "name": "Tier 2", "description": "Hard cases", "channels": ["email", "phone"], "restricted": "y",
        "members": [str(admin.id)], "lead": str(admin.id)})
    assert response.status_code == 302
    team = db.session.scalar(select(Team).where(Team.name == "Tier 2"))
    assert (team.channels, team.restricted, [m.id for m in team.members], team.lead_id) == (
        "email,phone", True, [admin.id], admin.id)
    assert client.get(f"/console/admin/teams/{team.id}").status_code == 200
    assert "Tier 2" in client.get("/console/admin/teams").get_data(as_text=True)

    assert client.post("/console/admin/canned", data={"title": "Hello", "body": "Hi there!"}).status_code == 302
    canned = db.session.scalar(select(CannedResponse))
    assert client.post(f"/console/admin/canned/{canned.id}", data={"title": "Hello", "body": "Hi!"}).status_code == 302
    db.session.expire_all()
    assert canned.body == "Hi!"
    assert client.post(f"/console/admin/canned/{canned.id}/delete").status_code == 302
    assert db.session.scalar(select(CannedResponse)) is None


# Defences ----------------------------------------------------------------------------------------------------


def test_customer_html_is_escaped(signed_in, make_ticket):
    evil = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    ticket = make_ticket(subject=evil, body=evil, name=evil)
    for path in ("/console/tickets", f"/console/tickets/{ticket.reference}", f"/console/customers/{ticket.customer_id}",
                 "/console/customers"):
        page = signed_in.get(path).get_data(as_text=True)
        assert evil not in page, path
        assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;" in page, path


def test_security_headers_on_console(signed_in):
    response = signed_in.get("/console/tickets")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


class TestCsrf:
    @pytest.fixture
    def config_overrides(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_post_without_token_is_rejected(self, client, agent, make_ticket):
        response = client.post("/console/login", data={"email": agent.email, "password": PASSWORD})
        assert response.status_code == 400
        page = client.get("/console/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
        response = client.post("/console/login", data={"email": agent.email, "password": PASSWORD,
                                                       "csrf_token": token})
        assert response.status_code == 302
        # The app fixture holds one app context for the whole test, so ``g`` (where Flask-WTF caches the
        # token of the request) outlives each request here; drop the copy made before sign-in cleared the session.
        g.pop("csrf_token", None)
        ticket = make_ticket()
        response = client.post(f"/console/tickets/{ticket.reference}/reply", data={"body": "No token"})
        assert response.status_code == 400
        page = client.get(f"/console/tickets/{ticket.reference}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
        response = client.post(f"/console/tickets/{ticket.reference}/reply",
                               data={"body": "With token", "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
