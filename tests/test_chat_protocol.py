"""CONTRACT §6 against a real server process: python-socketio clients on /chat and /agent."""

from __future__ import annotations

import time

import pytest
import socketio

from helpdesk.accounts import save_team
from helpdesk.extensions import db
from helpdesk.models import Conversation, Message, Ticket
from tests.support.chat import AgentClient, VisitorClient, Worker, fresh, start, wait_until
from tests.support.servers import HelpdeskServer

pytestmark = pytest.mark.slow
SHOP = "http://shop.example"


@pytest.fixture(scope="module")
def server_env(migrated, smtp_server) -> dict[str, str]:
    """Return the environment of the server and worker processes."""
    return {**migrated, "HELPDESK_CHAT_ACCEPT_SECONDS": "2", "HELPDESK_CHAT_ORIGINS": SHOP,
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_server.port)}


@pytest.fixture(scope="module")
def server(server_env):
    """Run the production server (gevent) in its own process for the module."""
    process = HelpdeskServer(server_env).start()
    yield process
    process.stop()


@pytest.fixture
def worker(server_env, app):
    """Run ``python -m workers`` for one test (after the app fixture emptied Redis)."""
    process = Worker(server_env).start()
    yield process
    process.stop()


@pytest.fixture
def clients(app):
    """Collect the test's clients and disconnect them at the end."""
    made = []
    yield made
    for client in made:
        try:
            client.close()
        except Exception:
            pass


@pytest.fixture
def online(make_agent, make_token, server, clients):
    """Return a factory: an online agent with a console open (an /agent socket) and their API token."""

    def factory(email=None, name=None, teams=(), presence="online", max_chats=3):
        agent = make_agent(email=email, name=name, teams=teams)
        agent.presence, agent.max_chats = presence, max_chats
        db.session.commit()
        token = make_token(agent)
        agent_client(server, clients, token)
        return agent, token

    return factory


def visitor(server, clients, token=None, **kw) -> VisitorClient:
    client = VisitorClient(server.url, token, **kw)
    clients.append(client)
    return client


def agent_client(server, clients, token, **kw) -> AgentClient:
    client = AgentClient(server.url, token, **kw)
    clients.append(client)
    return client


def test_a_whole_chat(server, clients, online):
    alice, token = online(email="alice@helpdesk.test", name="Alice Agent")
    agent = agent_client(server, clients, token)
    customer = visitor(server, clients)

    ack = start(customer)
    assert ack["state"] == "waiting" and ack["visitor_token"].startswith("v_")
    assert ack["ticket_reference"].startswith("HD-")
    request = agent.wait_for("chat_request")
    assert request["conversation_id"] == ack["conversation_id"]
    assert request["ticket_reference"] == ack["ticket_reference"]
    assert request["customer"]["email"] == "maria@example.com"
    assert request["message"]["body"] == "My order did not arrive"

    accepted = agent.call("accept", {"conversation_id": ack["conversation_id"]})
    assert accepted["conversation_id"] == ack["conversation_id"]
    assert [m["body"] for m in accepted["messages"]] == ["My order did not arrive"]
    assert customer.wait_for("agent")["name"] == "Alice Agent"
    assert customer.wait_for("state", lambda d: d["state"] == "active")
    ticket = fresh(Ticket)[0]
    assert ticket.channel == "chat" and ticket.assignee_id == alice.id

    sent = customer.call("message", {"client_id": "c-1", "body": "Order 1234"})
    assert sent["id"] > 0 and sent["created_at"].endswith("+00:00")
    got = agent.wait_for("message", lambda d: d["id"] == sent["id"])
    assert got["conversation_id"] == ack["conversation_id"] and got["author_type"] == "customer"
    assert customer.call("message", {"client_id": "c-1", "body": "Order 1234"})["id"] == sent["id"]

    reply = agent.call("message", {"conversation_id": ack["conversation_id"], "client_id": "a-1",
                                   "body": "It ships today."})
    assert reply["id"] > sent["id"]
    shown = customer.wait_for("message", lambda d: d["id"] == reply["id"])
    assert shown == {"id": reply["id"], "author_type": "agent", "author_name": "Alice Agent",
                     "body": "It ships today.", "created_at": reply["created_at"]}
    again = agent.call("message", {"conversation_id": ack["conversation_id"], "client_id": "a-1",
                                   "body": "It ships today."})
    assert again["id"] == reply["id"]
    assert len(fresh(Message, client_id="c-1")) == 1 and len(fresh(Message, client_id="a-1")) == 1

    assert customer.call("typing", {"typing": True}) == {}
    assert agent.wait_for("typing") == {"conversation_id": ack["conversation_id"], "typing": True}
    assert agent.call("typing", {"conversation_id": ack["conversation_id"], "typing": True}) == {}
    assert customer.wait_for("typing")["typing"] is True

    history = customer.call("history", {"after_id": sent["id"]})["messages"]
    assert [m["id"] for m in history] == [reply["id"]]
    everything = customer.call("history", {"after_id": None})["messages"]
    assert [m["body"] for m in everything] == ["My order did not arrive", "Order 1234", "It ships today."]
    agent_history = agent.call("history", {"conversation_id": ack["conversation_id"], "after_id": None})
    assert [m["id"] for m in agent_history["messages"]] == [m["id"] for m in everything]

    assert agent.call("end", {"conversation_id": ack["conversation_id"]}) == {}
    assert customer.wait_for("state", lambda d: d["state"] == "ended")
    assert customer.call("message", {"client_id": "c-2", "body": "hello?"})["error"]["code"] == "conversation_ended"
    assert fresh(Conversation)[0].state == "ended"


def test_consoles_hear_of_every_chat_ticket_that_gained_messages(server, clients, online):
    _, token = online(email="alice@helpdesk.test", name="Alice Agent")
    console = agent_client(server, clients, token)
    customer = visitor(server, clients)
    ack = start(customer)
    sent = [customer.call("message", {"client_id": f"c-{n}", "body": f"Order {n}"}) for n in range(3)]
    assert all("error" not in s for s in sent)
    stored = fresh(Message, client_id="c-2")[0]

    # The ticket as the API returns it, as it stands after the last message (several may make one event).
    change = console.wait_for("ticket", lambda d: d["change"] == "message"
                              and d["ticket"]["updated_at"] >= sent[-1]["created_at"])
    assert change["reference"] == ack["ticket_reference"] == change["ticket"]["reference"]
    assert change["ticket"]["status"] == "new" and change["ticket"]["channel"] == "chat"
    assert change["ticket"]["customer"]["email"] == "maria@example.com"
    assert stored.created_at.isoformat() == sent[-1]["created_at"]


def test_error_acks(server, clients, online):
    _, token = online()
    agent = agent_client(server, clients, token)
    customer = visitor(server, clients)

    def code(ack):
        return ack["error"]["code"]

    assert code(customer.call("message", {"client_id": "x", "body": "hi"})) == "no_conversation"
    assert code(customer.call("history", {"after_id": None})) == "no_conversation"
    assert code(customer.call("typing", {"typing": True})) == "no_conversation"
    assert code(customer.call("end", {})) == "no_conversation"
    assert code(customer.call("start", {})) == "invalid_request"
    assert code(customer.call("start", "hello")) == "invalid_request"
    assert code(customer.call("start", {"name": "M", "email": "not-an-email", "message": "hi"})) == "invalid_request"
    assert code(customer.call("start", {"name": "M", "email": "m@example.com", "message": "x" * 10_001})) \
        == "invalid_request"
    ack = start(customer)
    assert code(customer.call("message", {"body": "no id"})) == "invalid_request"
    assert code(customer.call("message", {"client_id": "bad id!", "body": "x"})) == "invalid_request"
    assert code(customer.call("message", {"client_id": "ok", "body": "   "})) == "invalid_request"
    assert code(customer.call("history", {"after_id": "1"})) == "invalid_request"
    assert code(customer.call("typing", {"typing": "yes"})) == "invalid_request"

    assert code(agent.call("accept", {"conversation_id": 999_999})) == "not_found"
    assert code(agent.call("accept", {"conversation_id": "1"})) == "invalid_request"
    assert code(agent.call("accept", None)) == "invalid_request"
    cid = ack["conversation_id"]
    assert code(agent.call("message", {"conversation_id": cid, "client_id": "a", "body": "hi"})) == "forbidden"
    assert code(agent.call("typing", {"conversation_id": cid, "typing": True})) == "forbidden"
    assert code(agent.call("transfer", {"conversation_id": cid})) == "invalid_request"
    assert code(agent.call("transfer", {"conversation_id": cid, "agent": "a@x.test", "team": "T"})) \
        == "invalid_request"
    assert code(agent.call("presence", {"status": "busy"})) == "invalid_value"
    assert code(agent.call("view", {})) == "invalid_request"
    assert code(agent.call("history", {"conversation_id": cid, "after_id": -1})) == "invalid_request"
    assert agent.call("presence", {"status": "online"}) == {}
    assert agent.call("accept", {"conversation_id": cid})["conversation_id"] == cid
    customer.call("end", {})
    assert code(agent.call("accept", {"conversation_id": cid})) == "conflict"


def test_rate_limit_per_socket(server, clients):
    customer = visitor(server, clients)
    answers = [customer.call("typing", {"typing": True}) for _ in range(40)]
    assert any(a.get("error", {}).get("code") == "rate_limited" for a in answers)
    time.sleep(1.2)
    assert customer.call("typing", {"typing": True})["error"]["code"] == "no_conversation"


def test_unauthenticated_agents_and_bad_origins_are_refused(server, clients, online):
    _, token = online()
    with pytest.raises(socketio.exceptions.ConnectionError):
        AgentClient(server.url, "hd_not-a-token")
    with pytest.raises(socketio.exceptions.ConnectionError):
        AgentClient(server.url, "")
    # Engine.IO refuses the handshake outright (HTTP 400), which python-socketio reports as an empty packet.
    with pytest.raises((socketio.exceptions.ConnectionError, ValueError)):
        VisitorClient(server.url, origin="http://evil.example")
    with pytest.raises(socketio.exceptions.ConnectionError):
        AgentClient(server.url, token, origin=SHOP)  # the widget's sites may not open the agents' namespace
    shop = visitor(server, clients, origin=SHOP)
    assert start(shop)["state"] == "waiting"
    assert agent_client(server, clients, token, origin=server.url).call("presence", {"status": "away"}) == {}


def test_returning_visitor_resumes_with_their_token(server, clients, online):
    online()
    first = visitor(server, clients)
    ack = start(first)
    sent = first.call("message", {"client_id": "m1", "body": "second line"})
    first.close()

    back = visitor(server, clients, token=ack["visitor_token"])
    state = back.wait_for("state")
    assert state["state"] == "waiting" and state["conversation_id"] == ack["conversation_id"]
    assert [m["id"] for m in back.call("history", {"after_id": None})["messages"]][-1] == sent["id"]
    again = start(back, message="ignored: the conversation is still open")
    assert again["conversation_id"] == ack["conversation_id"]
    assert again["visitor_token"] == ack["visitor_token"]
    assert len(fresh(Conversation)) == 1

    stranger = visitor(server, clients, token="v_guessed")
    assert stranger.call("history", {"after_id": None})["error"]["code"] == "no_conversation"
    assert len(fresh(Conversation, visitor_hash=Conversation.digest(ack["visitor_token"]))) == 1
    assert not fresh(Conversation, visitor_hash=Conversation.digest(ack["visitor_token"]))[0].ticket.customer \
        .identities[0].value.startswith("v_")  # only hashes are stored


def test_known_email_joins_the_customers_timeline(server, clients, make_ticket, online):
    online()
    earlier = make_ticket(email="maria@example.com", name="Maria Lopez")
    ack = start(visitor(server, clients))
    chat = Ticket.by_reference(ack["ticket_reference"])
    assert chat.customer_id == earlier.customer_id and chat.id != earlier.id


def test_nobody_online_means_offline_and_an_acknowledgement(server, clients, online):
    online(presence="away")
    customer = visitor(server, clients)
    ack = start(customer)
    assert ack["state"] == "offline"
    left = customer.call("message", {"client_id": "l1", "body": "Please call me back"})
    assert "id" in left
    ticket = fresh(Ticket)[0]
    assert ticket.ack_status == "pending" and ticket.channel == "chat"
    assert [m.body_text for m in fresh(Message, ticket_id=ticket.id)][-1] == "Please call me back"


def test_no_email_no_acknowledgement(server, clients):
    ack = start(visitor(server, clients), email="")
    assert ack["state"] == "offline"
    assert fresh(Ticket)[0].ack_status is None


def test_accept_timeout_goes_offline_and_the_ticket_continues_by_email(server, clients, online, worker, smtp,
                                                                         agent):
    _, token = online()
    staff = agent_client(server, clients, token)
    customer = visitor(server, clients)
    ack = start(customer)
    assert ack["state"] == "waiting"
    staff.wait_for("chat_request")
    assert customer.wait_for("state", lambda d: d["state"] == "offline", timeout=20)
    assert staff.wait_for("chat_state", lambda d: d["state"] == "offline")
    acknowledgement = smtp.wait_for(1, timeout=20)[0]
    assert ack["ticket_reference"] in acknowledgement["Subject"]
    assert smtp.recipients[0] == ["maria@example.com"]

    from helpdesk import tickets

    ticket = Ticket.by_reference(ack["ticket_reference"])
    tickets.reply(ticket, agent, "We looked at it: the parcel is at the depot.")
    db.session.commit()
    mails = smtp.wait_for(2, timeout=20)
    assert "parcel is at the depot" in mails[1].get_body(("plain",)).get_content()
    assert mails[1]["In-Reply-To"]


def test_transfer_to_an_agent_and_to_a_team(server, clients, online):
    _, alice_token = online(email="alice@helpdesk.test", name="Alice Agent")
    bob, bob_token = online(email="bob@helpdesk.test", name="Bob Agent", presence="away")
    alice = agent_client(server, clients, alice_token)
    bob_socket = agent_client(server, clients, bob_token)
    customer = visitor(server, clients)
    ack = start(customer)
    cid = ack["conversation_id"]
    alice.wait_for("chat_request")
    alice.call("accept", {"conversation_id": cid})

    assert alice.call("transfer", {"conversation_id": cid, "agent": "bob@helpdesk.test"})["error"]["code"] \
        == "unavailable"
    assert alice.call("transfer", {"conversation_id": cid, "agent": "nobody@helpdesk.test"})["error"]["code"] \
        == "not_found"
    assert bob_socket.call("presence", {"status": "online"}) == {}
    assert alice.call("transfer", {"conversation_id": cid, "agent": "bob@helpdesk.test"}) == {}
    handed = bob_socket.wait_for("chat_request")
    assert handed["conversation_id"] == cid and handed["transfer_from"] == "Alice Agent"
    assert handed["message"]["body"] == "My order did not arrive"  # the chat's first message, as when offered
    assert customer.wait_for("agent", lambda d: d["name"] == "Bob Agent")
    assert alice.wait_for("chat_state", lambda d: d["agent"] == "bob@helpdesk.test")["state"] == "active"
    assert bob_socket.call("message", {"conversation_id": cid, "client_id": "b1", "body": "Bob here"})["id"]
    assert alice.call("message", {"conversation_id": cid, "client_id": "a1", "body": "x"})["error"]["code"] \
        == "forbidden"

    carol, carol_token = online(email="carol@helpdesk.test", name="Carol Agent")
    save_team("Billing", members=[carol])
    db.session.commit()
    carol_socket = agent_client(server, clients, carol_token)
    assert bob_socket.call("transfer", {"conversation_id": cid, "team": "Nope"})["error"]["code"] == "not_found"
    assert bob_socket.call("transfer", {"conversation_id": cid, "team": "Billing"}) == {}
    to_team = carol_socket.wait_for("chat_request")
    assert to_team["conversation_id"] == cid and to_team["message"]["body"] == "My order did not arrive"
    assert to_team["customer"]["email"] == "maria@example.com" and "transfer_from" not in to_team
    assert customer.wait_for("state", lambda d: d["state"] == "waiting")
    assert carol_socket.call("accept", {"conversation_id": cid})["conversation_id"] == cid
    ticket = fresh(Ticket)[0]
    assert ticket.team.name == "Billing" and ticket.assignee_id == carol.id


def test_routing_prefers_the_account_owner_then_the_least_busy(server, clients, online, make_ticket):
    owner, owner_token = online(email="owner@helpdesk.test")
    other, other_token = online(email="other@helpdesk.test")
    owner_socket = agent_client(server, clients, owner_token)
    known = make_ticket(email="vip@example.com")
    known.customer.account_owner = owner
    db.session.commit()
    start(visitor(server, clients), email="vip@example.com")
    assert owner_socket.wait_for("chat_request")["customer"]["email"] == "vip@example.com"
    assert fresh(Conversation)[0].offered_agent_id == owner.id
    start(visitor(server, clients), email="someone@example.com")
    assert {c.offered_agent_id for c in fresh(Conversation)} == {owner.id, other.id}


def test_transcript_by_email(server, clients, online, worker, smtp):
    _, token = online()
    staff = agent_client(server, clients, token)
    customer = visitor(server, clients)
    ack = start(customer)
    staff.call("accept", {"conversation_id": ack["conversation_id"]})
    customer.call("message", {"client_id": "t1", "body": "Thanks <b>a lot</b>"})
    staff.call("message", {"conversation_id": ack["conversation_id"], "client_id": "t2", "body": "You're welcome"})
    assert customer.call("transcript", {}) == {}
    assert customer.call("transcript", {}) == {}  # nothing new: sent once
    mail = smtp.wait_for(1, timeout=20)[0]
    assert smtp.recipients[0] == ["maria@example.com"]
    assert ack["ticket_reference"] in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert "Thanks <b>a lot</b>" in text and "You're welcome" in text
    time.sleep(1)
    assert len(smtp.messages) == 1


def test_server_restart_loses_nothing(server, clients, online):
    _, token = online()
    staff = agent_client(server, clients, token, reconnect=True)
    customer = visitor(server, clients, reconnect=True)
    ack = start(customer)
    customer.client.connection_auth = {"visitor_token": ack["visitor_token"]}  # as the widget's auth callback does
    cid = ack["conversation_id"]
    staff.call("accept", {"conversation_id": cid})
    before = customer.call("message", {"client_id": "r1", "body": "before the restart"})

    server.stop()
    with pytest.raises(Exception):  # noqa: B017 (no ack: the client cannot know whether it was stored)
        customer.call("message", {"client_id": "r2", "body": "during the restart"}, timeout=2)
    server.start()

    # The same clients reconnect by themselves; the visitor resumes by token and resends r2 with its client_id.
    assert customer.wait_for("state", lambda d: "conversation_id" in d, timeout=30)["state"] == "active"
    first = customer.call("message", {"client_id": "r2", "body": "during the restart"})
    assert customer.call("message", {"client_id": "r2", "body": "during the restart"})["id"] == first["id"]
    deadline = time.monotonic() + 30
    while not staff.client.namespaces and time.monotonic() < deadline:
        time.sleep(0.1)
    answer = staff.call("message", {"conversation_id": cid, "client_id": "s1", "body": "still here"})
    assert customer.wait_for("message", lambda d: d["id"] == answer["id"])
    bodies = [m["body"] for m in customer.call("history", {"after_id": before["id"]})["messages"]]
    assert bodies == ["during the restart", "still here"]
    assert len(fresh(Message, client_id="r2")) == 1


def test_an_online_agent_whose_consoles_are_closed_is_not_offered_chats(server, clients, make_agent, make_token):
    from helpdesk import presence

    agent = make_agent()
    agent.presence = "online"
    db.session.commit()
    token = make_token(agent)
    first = agent_client(server, clients, token)
    second = agent_client(server, clients, token)
    assert presence.reachable([agent.id]) == {agent.id}
    first.close()
    assert wait_until(lambda: len(presence._redis().zrange(presence.KEY.format(agent.id), 0, -1)) == 1)
    assert presence.reachable([agent.id]) == {agent.id}  # one console is still open
    second.close()
    assert wait_until(lambda: not presence.reachable([agent.id]))
    assert start(visitor(server, clients))["state"] == "offline"  # said honestly, not after the accept time-out
    agent_client(server, clients, token)
    assert start(visitor(server, clients))["state"] == "waiting"
