"""Chat in real browsers: the widget on a host page and the chat desk, in two Chromium contexts."""

from __future__ import annotations

import pytest

from helpdesk.extensions import db
from helpdesk.models import CannedResponse, Ticket
from tests.support.browser import new_page, sign_in, wait_for_live_updates
from tests.support.chat import AgentClient, VisitorClient, start
from tests.support.servers import HelpdeskServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOSTILE = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "\"><svg onload=alert(3)>"]


@pytest.fixture(scope="module")
def server(migrated):
    """Run the production server (gevent) in its own process."""
    process = HelpdeskServer(migrated).start()
    yield process
    process.stop()


def test_customer_and_agent_chat_and_see_each_other_typing(server, browser, make_agent, app):
    alice = make_agent(email="alice@helpdesk.test", name="Alice Agent")
    alice.presence = "online"
    db.session.add(CannedResponse(title="Greeting", body="Hello! How can I help?"))
    db.session.commit()

    desk = new_page(browser, viewport={"width": 1400, "height": 900})
    sign_in(desk, server.url, alice.email)
    desk.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()
    desk.wait_for_url("**/console/chat")
    wait_for_live_updates(desk)

    phone = new_page(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.goto(f"{server.url}/chat-demo")
    launcher = phone.get_by_role("button", name="Chat with us")
    launcher.focus()
    with phone.expect_response("**/chat/availability") as asked:
        phone.keyboard.press("Enter")  # keyboard alone: the panel opens with the first field focused
    assert asked.value.json() == {"available": True}  # Alice has the chat desk open
    name = phone.get_by_label("Name")
    name.wait_for()
    phone.get_by_text("Ask us anything. We usually answer within minutes.").wait_for()
    assert phone.evaluate("document.getElementById('helpdesk-chat').shadowRoot.activeElement.id") == "hdc-name"
    name.fill(HOSTILE[0])
    phone.get_by_label("Email").fill("maria@example.com")
    phone.get_by_label("Question").fill(HOSTILE[1])
    phone.get_by_role("button", name="Start chat").click()
    phone.get_by_text("Waiting for an agent to join").wait_for()

    request = desk.locator(".chat-request").first
    request.wait_for()
    assert HOSTILE[0] in request.inner_text() and HOSTILE[1] in request.inner_text()
    assert desk.locator("#chat-requests-badge").inner_text() == "1"
    request.get_by_role("button", name="Accept").click()
    pane = desk.locator(".chat-pane").first
    pane.locator(".chat-body", has_text=HOSTILE[1]).wait_for()
    phone.get_by_text("Connected with Alice Agent").wait_for()

    phone.get_by_label("Message").press_sequentially("Hello th")
    pane.get_by_text("The customer is typing…").wait_for()
    phone.get_by_label("Message").fill(HOSTILE[2])
    phone.get_by_label("Message").press("Enter")
    pane.locator(".chat-body", has_text=HOSTILE[2]).wait_for()
    # The visitor's own lines say "You", the pre-chat question (stored under their name) included.
    assert phone.locator(".hdc-customer .hdc-author").all_inner_texts() == ["You", "You"]

    pane.get_by_text("Canned responses").click()
    pane.get_by_role("button", name="Greeting").click()
    composer = pane.locator("textarea")
    assert composer.input_value() == "Hello! How can I help?"
    composer.press("End")
    composer.press_sequentially(" Let me check.")
    phone.get_by_text("Alice Agent is typing…").wait_for()
    composer.press("Enter")
    phone.locator(".hdc-agent .hdc-body", has_text="Hello! How can I help? Let me check.").wait_for()

    # the customer panel shows who it is, safely, with their history across channels
    pane.locator(".chat-customer-panel .caller").wait_for()
    assert HOSTILE[0] in pane.locator(".chat-customer-panel").inner_text()

    # A customer line the agent is not looking at is marked on its chat and counted in the tab's title.
    desk.locator(".chat-side h1").click()
    phone.get_by_label("Message").fill("Are you still there?")
    phone.get_by_label("Message").press("Enter")
    pane.locator(".chat-body", has_text="Are you still there?").wait_for()
    assert pane.locator(".chat-unread").inner_text() == "1 new"
    assert desk.title().startswith("(1) ")
    composer.click()
    assert pane.locator(".chat-unread").is_hidden() and not desk.title().startswith("(")
    composer.fill("Yes!")
    phone.get_by_label("Message").fill("Thanks")
    phone.get_by_label("Message").press("Enter")
    pane.locator(".chat-body", has_text="Thanks").wait_for()
    assert pane.locator(".chat-unread").is_hidden()  # read as it arrived: the agent is in this chat
    # In another tab: the line rings (the chat request's sound) and is read on coming back to the chat.
    desk.evaluate("""() => {
        window.rings = 0;
        HTMLMediaElement.prototype.play = function () { window.rings += 1; return Promise.resolve(); };
        Object.defineProperty(document, "hidden", { value: true, configurable: true });
    }""")
    phone.get_by_label("Message").fill("Hello again")
    phone.get_by_label("Message").press("Enter")
    pane.locator(".chat-body", has_text="Hello again").wait_for()
    assert desk.evaluate("window.rings") == 1 and desk.title().startswith("(1) ")
    desk.evaluate("""() => {
        Object.defineProperty(document, "hidden", { value: false, configurable: true });
        document.dispatchEvent(new Event("visibilitychange"));
    }""")
    assert pane.locator(".chat-unread").is_hidden() and not desk.title().startswith("(")

    for page in (desk, phone):
        assert page.locator("img[src=x]").count() == 0
        assert page.locator("svg").count() == 0 or "onload" not in page.content()
    assert desk.evaluate("document.querySelectorAll('.chat-pane img, .chat-request img').length") == 0

    ticket = db.session.scalars(db.select(Ticket)).one()
    desk.goto(f"{server.url}/console/tickets/{ticket.reference}")
    desk.locator(".thread").get_by_text(HOSTILE[2]).wait_for()
    assert desk.locator(".thread img").count() == 0

    phone.get_by_role("button", name="End chat").click()
    phone.get_by_text("This chat has ended.").first.wait_for()
    assert desk.problems == [] and phone.problems == []


def test_the_ticket_list_and_page_follow_a_chat_live(server, browser, make_agent, app):
    alice = make_agent(email="alice@helpdesk.test", name="Alice Agent")
    customer = VisitorClient(server.url)
    try:
        ack = start(customer)
        desk = new_page(browser, viewport={"width": 1400, "height": 900})
        sign_in(desk, server.url, alice.email)
        row = desk.locator(f"tr[data-reference='{ack['ticket_reference']}']")
        row.wait_for()
        wait_for_live_updates(desk)

        assert "error" not in customer.call("message", {"client_id": "c-1", "body": "Any news?"})
        desk.locator(f"tr[data-reference='{ack['ticket_reference']}'].is-flash").wait_for(timeout=10_000)
        assert row.locator("[data-field=updated]").inner_text() == "just now"

        desk.goto(f"{server.url}/console/tickets/{ack['ticket_reference']}")
        desk.locator(".thread").get_by_text("Any news?").wait_for()
        wait_for_live_updates(desk)
        assert "error" not in customer.call("message", {"client_id": "c-2", "body": "Hello again"})
        desk.get_by_text("This ticket was updated (message).").wait_for(timeout=10_000)
        assert desk.problems == []
    finally:
        customer.close()


def test_returning_visitor_sees_their_conversation_and_offline_is_honest(server, browser, app):
    phone = new_page(browser, viewport={"width": 390, "height": 844})
    phone.goto(f"{server.url}/chat-demo")
    phone.get_by_role("button", name="Chat with us").click()
    phone.get_by_text("Nobody is available to chat right now. Leave your question here").wait_for()  # before typing
    phone.get_by_label("Name").fill("Maria")
    phone.get_by_label("Email").fill("maria@example.com")
    phone.get_by_label("Question").fill("Is anyone there?")
    phone.get_by_role("button", name="Start chat").click()
    phone.get_by_text("Nobody is available to chat right now").first.wait_for()
    phone.get_by_label("Message").fill("My number is 555-0100")
    phone.get_by_role("button", name="Send").click()
    phone.locator(".hdc-customer .hdc-meta").last.wait_for()
    phone.wait_for_function(
        "() => !document.getElementById('helpdesk-chat').shadowRoot.textContent.includes('Sending…')")

    phone.reload()
    phone.get_by_role("button", name="Chat with us").click()
    phone.get_by_text("My number is 555-0100").wait_for()
    phone.get_by_text("Is anyone there?").wait_for()
    assert phone.problems == []


@pytest.fixture
def other_site(tmp_path):
    """Serve a page of another web site (another origin) on a free port; yield its URL and where to write pages."""
    import functools
    import http.server
    import threading

    from tests.support.servers import free_port

    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", tmp_path
    httpd.shutdown()


def test_widget_embedded_on_another_site(migrated, browser, other_site, make_agent, make_token, app):
    site, root = other_site
    desk = HelpdeskServer({**migrated, "HELPDESK_CHAT_ORIGINS": site}).start()
    console = None
    try:
        (root / "index.html").write_text(
            "<!doctype html><html><head><meta charset=utf-8><title>Shop</title>"
            "<style>button { background: red !important; } p { color: green; }</style></head>"
            f"<body><h1>Shop</h1><p>Our products</p><script src='{desk.url}/widget.js' async></script></body></html>")
        alice = make_agent(name="Alice Agent")
        alice.presence = "online"
        console = AgentClient(desk.url, make_token(alice))  # her console is open (a socket of the agents')
        from helpdesk.kb import service as kb

        article = kb.create_article(kb.save_category("Shipping"))
        kb.save_translation(article, "en", "Shipping to Canada", "We ship to Canada within 5 days.",
                            state="published")
        db.session.commit()
        page = new_page(browser)
        page.goto(f"{site}/index.html")
        launcher = page.get_by_role("button", name="Chat with us")
        launcher.click()
        # the shop's own CSS does not reach into the widget, and the widget's does not leak out
        assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") != "rgb(255, 0, 0)"
        assert page.locator("body > p").evaluate("p => getComputedStyle(p).color") == "rgb(0, 128, 0)"
        page.get_by_label("Name").fill("Maria")
        page.get_by_label("Email").fill("maria@example.com")
        page.get_by_label("Question").press_sequentially("Shipping to Canada?")
        # the knowledge base suggests an article as the question is typed (a CORS request from the shop's page)
        page.get_by_role("link", name="Shipping to Canada").wait_for()
        page.get_by_role("button", name="Start chat").click()
        page.get_by_text("Waiting for an agent to join").wait_for()
        assert db.session.scalars(db.select(Ticket)).one().channel == "chat"
        assert page.problems == []
    finally:
        if console is not None:
            console.close()
        desk.stop()
