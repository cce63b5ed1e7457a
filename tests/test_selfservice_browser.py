"""The customer's whole journey in Debian's chromium: no answer in the KB, the form, the portal, the rating."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from helpdesk import tickets
from helpdesk.extensions import db
from helpdesk.models import Ticket
from tests.support.browser import new_page
from workers.app import set_app
from workers.worker import run as run_worker

pytestmark = pytest.mark.browser



@pytest.fixture
def config_overrides(smtp_server):
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_server.port}


@pytest.fixture
def page(browser):
    """Return a page that records CSP violations and script errors."""
    page = new_page(browser, viewport={"width": 1100, "height": 900}, locale="en-GB")
    yield page
    page.context.close()


def deliver(app, smtp, count: int) -> list:
    """Run the queued jobs with a real worker; return the first ``count`` messages received."""
    set_app(app)
    from helpdesk.channels.email import smtp as smtp_client

    smtp_client.close()
    run_worker(burst=True)
    return smtp.wait_for(count)


def test_no_answer_then_form_portal_reply_answer_and_rating(app, live_server, page, agent, smtp_server, tmp_path):
    smtp_server.messages.clear()
    page.goto(f"{live_server}/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_label("Search the help centre").fill("flux capacitor warranty")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    assert "flux capacitor" not in page.locator("main a").all_inner_texts()  # no article answers it

    page.goto(f"{live_server}/contact")
    page.get_by_label("Name").fill("Maria Lopez")
    page.get_by_label("Email").fill("maria@example.com")
    page.get_by_label("What is it about?").select_option("problem")
    page.get_by_label("Subject").fill("Flux capacitor warranty")
    page.get_by_label("Message").fill("It stopped fluxing after a week.")
    receipt = tmp_path / "receipt.txt"
    receipt.write_text("Order 42, paid.")
    page.get_by_label("Attachments").set_input_files(str(receipt))
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"{live_server}/contact/thanks")
    reference = page.locator("#reference").inner_text()
    ticket = db.session.scalar(select(Ticket))
    assert reference == ticket.reference and ticket.channel == "web"
    assert page.locator("#promised").inner_text()

    [ack] = deliver(app, smtp_server, 1)
    assert ack["To"] == "maria@example.com" and reference in ack["Subject"]
    link = re.search(r"http://\S+/portal/tickets/\S+", ack.get_content())[0]
    page.goto(link)
    assert page.locator("h1").inner_text() == "Flux capacitor warranty"
    assert page.get_by_role("link", name="receipt.txt").count() == 1

    page.get_by_label("Your reply").fill("Also, it smells of ozone.")
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_selector("text=Your reply was added.")
    assert "smells of ozone" in page.locator(".thread").inner_text()

    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    tickets.reply(ticket, agent, "Please recalibrate it to 1.21 gigawatts.")
    db.session.commit()
    page.reload()
    assert "1.21 gigawatts" in page.locator(".thread").inner_text()

    tickets.set_status(ticket, "solved", agent)
    db.session.commit()
    mails = deliver(app, smtp_server, 3)  # the agent's reply, then the survey
    [survey] = [m for m in mails if m["Subject"].startswith("How did we do?")]
    five = re.search(r"^5 - [^:]+: (http://\S+?)\r?$", survey.get_content(), re.M)[1]
    page.goto(five)
    assert "5 out of 5" in page.locator("#recorded-rating").inner_text()
    page.get_by_label("Tell us more (optional)").fill("Great help, thank you.")
    page.get_by_role("button", name="Send comment").click()
    page.wait_for_selector("text=We received your comment.")

    from helpdesk.portal.satisfaction import rating_of

    db.session.expire_all()
    rating = rating_of(db.session.get(Ticket, ticket.id))
    assert (rating.rating, rating.comment) == (5, "Great help, thank you.")
    assert page.problems == []
