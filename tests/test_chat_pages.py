"""Chat in-process: settings, the widget script and demo page, the chat desk, routing and the service."""

from __future__ import annotations

import pytest

from config import Config, ConfigError
from helpdesk import presence
from helpdesk.accounts import save_team
from helpdesk.channels.chat import lifecycle, routing, service
from helpdesk.channels.chat.protocol import ChatError
from helpdesk.extensions import db
from helpdesk.models import Conversation

PASSWORD = "correct horse battery"


def test_chat_settings_are_checked():
    config = Config.from_env({"HELPDESK_BASE_URL": "https://desk.example.com", "SECRET_KEY": "x"})
    assert config.CHAT_ORIGINS == ["https://desk.example.com"] and config.CHAT_ACCEPT_SECONDS == 60
    config = Config.from_env({"HELPDESK_CHAT_ORIGINS": "https://a.example, https://b.example/", "SECRET_KEY": "x",
                              "HELPDESK_CHAT_ACCEPT_SECONDS": "5"})
    assert config.CHAT_ORIGINS == ["https://a.example", "https://b.example"] and config.CHAT_ACCEPT_SECONDS == 5
    with pytest.raises(ConfigError, match="HELPDESK_CHAT_ORIGINS"):
        Config.from_env({"HELPDESK_CHAT_ORIGINS": "a.example/path", "SECRET_KEY": "x"})
    with pytest.raises(ConfigError, match="HELPDESK_CHAT_ACCEPT_SECONDS"):
        Config.from_env({"HELPDESK_CHAT_ACCEPT_SECONDS": "soon", "SECRET_KEY": "x"})


def test_widget_script_and_demo_page(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert b"attachShadow" in response.data
    assert client.get("/static/widget/widget.css").status_code == 200
    page = client.get("/chat-demo")
    assert page.status_code == 200 and b'src="/widget.js"' in page.data
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_chat_desk_needs_an_agent_and_shows_waiting_chats(client, agent, app):
    assert client.get("/console/chat").status_code == 302
    conversation = service.start(Conversation.digest("v_x"), "Maria <b>", "maria@example.com", "Hello <script>")
    db.session.commit()
    assert conversation.state == "offline"  # nobody online
    conversation.state = "waiting"
    db.session.commit()
    client.post("/console/login", data={"email": agent.email, "password": PASSWORD})
    page = client.get("/console/chat")
    assert page.status_code == 200
    assert b"Maria &lt;b&gt;" in page.data and b"Hello &lt;script&gt;" in page.data
    panel = client.get(f"/console/chat/{conversation.id}/customer")
    assert panel.status_code == 200 and b"maria@example.com" in panel.data
    assert client.get("/console/chat/999/customer").status_code == 404
    assert client.post("/console/chat/presence", data={"status": "away"}).status_code == 302
    assert agent.presence == "away"


@pytest.fixture
def console(app):
    """Return a function that opens a console for an agent (an /agent socket as helpdesk.presence counts it)."""
    opened = []

    def open_console(agent):
        opened.append((agent.id, f"console-of-{agent.id}"))
        presence.connected(*opened[-1])

    yield open_console
    for agent_id, sid in opened:
        presence.disconnected(agent_id, sid)


def test_routing_owner_first_then_least_busy_within_capacity(app, make_agent, make_ticket, console):
    owner, busy, free = (make_agent(email=f"{n}@helpdesk.test") for n in ("owner", "busy", "free"))
    for a in (owner, busy, free):
        a.presence = "online"
        console(a)
    busy.max_chats = 1
    db.session.commit()
    known = make_ticket(email="vip@example.com")
    known.customer.account_owner = owner
    db.session.commit()

    first = service.start(Conversation.digest("v_1"), "", "vip@example.com", "hi")
    assert first.offered_agent_id == owner.id
    owner.max_chats = 1
    db.session.commit()
    second = service.start(Conversation.digest("v_2"), "", "vip@example.com", "again")
    assert second.offered_agent_id in (busy.id, free.id)  # the owner is full: the least busy, lowest id
    third = service.start(Conversation.digest("v_3"), "", "x@example.com", "third")
    assert {second.offered_agent_id, third.offered_agent_id} == {busy.id, free.id}
    assert routing.load([owner.id, busy.id, free.id]) == {owner.id: 1, busy.id: 1, free.id: 1}
    fourth = service.start(Conversation.digest("v_4"), "", "y@example.com", "fourth")
    assert fourth.offered_agent_id == free.id  # busy is at max_chats

    team = save_team("Billing", members=[busy])
    db.session.commit()
    fourth.team = team
    busy.presence = "away"
    assert routing.choose(fourth) is None  # the team's only member is away: nobody else is asked
    busy.presence, busy.max_chats = "online", 5
    assert routing.choose(fourth) == busy
    presence.disconnected(busy.id, f"console-of-{busy.id}")
    assert routing.choose(fourth) is None  # "online", but every console of theirs is closed


def test_the_widget_can_ask_whether_anyone_can_chat_now(client, app, make_agent, console):
    """The pre-chat form says so before the visitor types; only the sites allowed to embed the widget may read it."""
    def available() -> bool:
        response = client.get("/chat/availability")
        assert response.status_code == 200 and response.headers["Cache-Control"] == "private, max-age=10"
        return response.get_json()["available"]

    assert available() is False  # nobody online
    alice = make_agent()
    alice.presence, alice.max_chats = "online", 1
    db.session.commit()
    assert available() is False  # online, but no console open
    console(alice)
    assert available() is True
    service.start(Conversation.digest("v_a"), "", "a@example.com", "hi")  # offered to alice: she is full
    db.session.commit()
    assert available() is False
    alice.max_chats = 2
    db.session.commit()
    allowed = app.config["CHAT_ORIGINS"][0]
    response = client.get("/chat/availability", headers={"Origin": allowed})
    assert response.get_json() == {"available": True}
    assert response.headers["Access-Control-Allow-Origin"] == allowed
    assert "Access-Control-Allow-Origin" not in client.get(
        "/chat/availability", headers={"Origin": "https://elsewhere.example"}).headers


def test_accept_is_won_once_and_timeout_respects_it(app, make_agent, console):
    alice, bob = make_agent(), make_agent()
    alice.presence = bob.presence = "online"
    console(alice)
    console(bob)
    db.session.commit()
    conversation = service.start(Conversation.digest("v_a"), "", "m@example.com", "hi")
    db.session.commit()
    lifecycle.accept(conversation, alice)
    db.session.commit()
    with pytest.raises(ChatError) as refused:
        lifecycle.accept(conversation, bob)
    assert refused.value.code == "conflict"
    db.session.rollback()
    assert lifecycle.expire_offer(conversation.id) == "nothing to do"
    assert conversation.ticket.assignee_id == alice.id
