"""Two web processes sharing Redis and the database work as one: a customer on one, an agent on the other."""

from __future__ import annotations

import pytest

from helpdesk.extensions import db
from tests.support.chat import AgentClient, VisitorClient
from tests.support.servers import HelpdeskServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(migrated):
    """Start two production server processes on the same Redis and database."""
    first, second = HelpdeskServer(migrated).start(), HelpdeskServer(migrated).start()
    yield first, second
    first.stop()
    second.stop()


def test_customer_and_agent_on_different_processes(servers, make_agent, make_token, app):
    first, second = servers
    alice = make_agent(email="alice@helpdesk.test", name="Alice Agent")
    alice.presence = "online"
    db.session.commit()
    # Each process allows its own origin; a widget page is served by one of them.
    agent = AgentClient(second.url, make_token(alice))
    customer = VisitorClient(first.url)
    try:
        ack = customer.call("start", {"name": "Maria", "email": "maria@example.com", "message": "Hello"})
        cid = ack["conversation_id"]
        assert agent.wait_for("chat_request")["conversation_id"] == cid
        assert agent.call("accept", {"conversation_id": cid})["conversation_id"] == cid
        assert customer.wait_for("agent")["name"] == "Alice Agent"

        sent = customer.call("message", {"client_id": "c1", "body": "From process one"})
        assert agent.wait_for("message", lambda d: d["id"] == sent["id"])["body"] == "From process one"
        reply = agent.call("message", {"conversation_id": cid, "client_id": "a1", "body": "From process two"})
        assert customer.wait_for("message", lambda d: d["id"] == reply["id"])["body"] == "From process two"

        customer.call("typing", {"typing": True})
        assert agent.wait_for("typing") == {"conversation_id": cid, "typing": True}
        agent.call("typing", {"conversation_id": cid, "typing": True})
        assert customer.wait_for("typing")["typing"] is True

        # A second tab of the same visitor, on the other process, sees what the first one sends.
        tab = VisitorClient(second.url, ack["visitor_token"])
        try:
            more = customer.call("message", {"client_id": "c2", "body": "Seen in both tabs"})
            assert tab.wait_for("message", lambda d: d["id"] == more["id"])
        finally:
            tab.close()
    finally:
        customer.close()
        agent.close()
