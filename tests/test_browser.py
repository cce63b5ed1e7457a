"""The console in a real browser: Debian's chromium driven by Playwright against a live server."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from helpdesk import tickets
from helpdesk.accounts import save_team
from helpdesk.extensions import db
from helpdesk.models import CannedResponse, Ticket
from helpdesk.models.base import utcnow
from tests.support.browser import new_page, sign_in

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture
def live(live_server):
    """Return the live server's URL, with Socket.IO accepting that origin.

    create_app allows the BASE_URL origin, and the live_server fixture picks its
    port after that, so the browser's Origin would otherwise be refused.
    """
    from helpdesk.extensions import socketio

    socketio.server.eio.cors_allowed_origins = [live_server]
    return live_server


@pytest.fixture
def page(browser):
    """Return a fresh page that records CSP violations and script errors."""
    page = new_page(browser, viewport={"width": 1280, "height": 800})
    yield page
    page.context.close()


def test_sign_in_open_ticket_and_reply(live, page, agent, make_ticket):
    ticket = make_ticket(subject="Cannot export my invoices", body="The export button does nothing.",
                         email="maria@example.com", name="Maria Lopez")
    db.session.add(CannedResponse(title="Looking into it", body="Thanks, Maria. I am looking into it now."))
    db.session.commit()

    sign_in(page, live, agent.email)
    page.get_by_role("link", name="Cannot export my invoices").click()
    page.wait_for_url(f"**/console/tickets/{ticket.reference}")
    assert page.locator(".thread").inner_text().count("The export button does nothing.") == 1

    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "reply-body"
    page.get_by_role("button", name="Looking into it").click()
    assert page.locator("#reply-body").input_value() == "Thanks, Maria. I am looking into it now."
    page.locator("#reply-body").fill("Fixed on our side: please try the export again.")
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_url(f"**/console/tickets/{ticket.reference}")
    thread = page.locator(".thread")
    thread.get_by_text("Fixed on our side: please try the export again.").wait_for()
    assert "Reply sent." in page.locator(".flashes").inner_text()
    assert page.problems == []


def test_list_keyboard_and_live_row_update(live, page, agent, make_ticket):
    first = make_ticket(subject="First ticket")
    make_ticket(subject="Second ticket")
    sign_in(page, live, agent.email)
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.locator("tr.is-selected").get_attribute("data-reference") == first.reference
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"

    page.wait_for_function("() => window.io !== undefined")
    page.wait_for_timeout(1500)  # let the socket connect
    tickets.set_status(first, "pending", agent)
    db.session.commit()
    page.locator(f"tr[data-reference='{first.reference}'] .status-pending").wait_for(timeout=10_000)
    assert page.problems == []


DEMO = [
    ("Double charged for March subscription", "email", "urgent", "open", "Priya Raman", True, "billing"),
    ("Can't reset my password – link expired", "web", "high", "new", "Tom Becker", False, None),
    ("Chat: order #48213 still not shipped", "chat", "normal", "open", "Lena Fischer", False, "shipping"),
    ("Called about upgrading to the Team plan", "phone", "normal", "pending", "Marcus Oyelaran", True, None),
    ("Invoice needs our VAT number", "email", "low", "open", "Aiko Tanaka", False, "billing"),
    ("API returns 502 on /v2/exports", "api", "urgent", "new", "Dev Integrations", False, "bug"),
    ("Refund request for duplicate order", "email", "high", "pending", "Sofia Marino", False, "billing"),
    ("How do I add a second admin?", "web", "normal", "new", "Jonas Berg", False, None),
    ("Delivery address change before dispatch", "chat", "high", "open", "Emma Wilson", True, "shipping"),
    ("Mobile app crashes on login (Android 14)", "email", "high", "open", "Carlos Mendes", False, "bug"),
    ("Request for SOC 2 report", "email", "normal", "pending", "Hannah Schultz", True, None),
    ("Bulk import stuck at 80%", "web", "normal", "open", "Omar Haddad", False, "bug"),
    ("Wrong size delivered, want exchange", "phone", "normal", "new", "Grace Kim", False, "shipping"),
    ("Cancel my trial please", "email", "low", "new", "Lucas Petit", False, None),
    ("Two-factor codes not arriving by SMS", "chat", "urgent", "open", "Nadia Rossi", True, None),
]


def seed_demo(make_agent, admin) -> None:
    """Create agents, teams and fifteen tickets that look like a real Monday."""
    bob = make_agent(email="bob@helpdesk.test", name="Bob Okafor")
    chloe = make_agent(email="chloe@helpdesk.test", name="Chloé Martin")
    billing = save_team("Billing", channels=["email"], members=[admin, chloe])
    support = save_team("Support", channels=["web", "chat", "phone", "api"], members=[admin, bob])
    owners = [admin, bob, chloe, None]
    now = utcnow()
    for n, (subject, channel, priority, status, name, vip, tag) in enumerate(reversed(DEMO)):
        slug = name.lower().replace(" ", ".")
        contact = tickets.Contact(email=f"{slug}@example.com", name=name,
                                  phone=f"+1415555{1000 + n}" if channel == "phone" else None)
        received = tickets.receive(tickets.Inbound(channel=channel, contact=contact, subject=subject,
                                                   body_text=f"Hello, {subject.lower()}.", priority=priority))
        ticket = received.ticket
        ticket.customer.vip = vip
        tickets.set_team(ticket, billing if tag == "billing" else support)
        if status != "new":
            tickets.assign(ticket, owners[n % 3])
            tickets.set_status(ticket, status)
        if tag:
            tickets.set_tags(ticket, [tag])
        db.session.flush()
        ticket.updated_at = now - timedelta(minutes=7 * n + 2)
        if subject.startswith("Double charged"):
            tickets.add_note(ticket, chloe, "Stripe shows two captures 4 seconds apart. Refunding the second one.")
            tickets.reply(ticket, chloe, "Hi Priya, sorry about that! The duplicate charge is refunded; "
                                         "you will see it on your statement in 3-5 business days.")
            tickets.receive(tickets.Inbound(channel="email", contact=contact, subject=f"Re: {subject}",
                                            body_text="Thank you, that was quick!", ticket_id=ticket.id,
                                            in_reply_to=[]))
    for title, body in [("Refund issued", "Your refund is on its way; allow 3-5 business days."),
                        ("Need more details", "Could you send a screenshot of what you see?"),
                        ("Password reset", "Use the link on the sign-in page; it works for one hour.")]:
        db.session.add(CannedResponse(title=title, body=body))
    db.session.commit()


def test_screenshot_of_the_ticket_list(live, page, admin, make_agent, tmp_path):
    seed_demo(make_agent, admin)
    assert db.session.query(Ticket).count() == len(DEMO)
    sign_in(page, live, admin.email)
    page.goto(f"{live}/console/tickets?view=open&sort=updated")
    page.keyboard.press("j")
    target = DOCS / "console.png" if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path / "console.png"
    target.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(target))
    assert target.stat().st_size > 10_000
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live}/console/tickets?view=open&sort=updated")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the list must not scroll sideways on a phone"
    page.screenshot(path=str(tmp_path / "console-phone.png"))
    charged = db.session.query(Ticket).filter(Ticket.subject.startswith("Double charged")).one()
    page.goto(f"{live}/console/tickets/{charged.reference}")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(tmp_path / "console-ticket.png"))
    assert page.problems == []
