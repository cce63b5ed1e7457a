"""The acknowledgement job on its own: once per ticket, loop-safe, and giving up visibly."""

from __future__ import annotations

import pytest

from helpdesk import tickets
from helpdesk.extensions import db
from helpdesk.models import Message, Ticket
from helpdesk.sla import acknowledgement
from helpdesk.tickets.delivery import retry_delivery
from tests.support.servers import RedisServer


@pytest.fixture
def config_overrides(smtp_server):
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_server.port}


def web_ticket(email="ann@example.com") -> Ticket:
    ticket = tickets.receive(tickets.Inbound(channel="web", contact=tickets.Contact(email=email, name="Ann"),
                                             subject="Hello", body_text="Question")).ticket
    db.session.commit()
    return ticket


def test_sent_once_even_when_asked_twice(app, smtp):
    ticket = web_ticket()
    assert acknowledgement.send(ticket.id) == "sent"
    assert acknowledgement.send(ticket.id) == "not owed"
    assert len(smtp.wait_for(1)) == 1
    assert acknowledgement.owed() == []


def test_never_to_our_own_address(app, smtp):
    ticket = web_ticket(email=app.config["SUPPORT_ADDRESS"])
    assert acknowledgement.send(ticket.id) == "skipped: our own address"


def test_the_per_recipient_budget_stops_a_loop(app, smtp):
    results = [acknowledgement.send(web_ticket(email="loop@example.com").id) for _ in range(12)]
    assert results.count("sent") == 10
    assert all(r.startswith("skipped: more than 10") for r in results[10:])


def test_gives_up_visibly_and_an_agent_can_retry(app, smtp):
    ticket = web_ticket()
    smtp.fail_with = "451 4.3.0 try later"
    for _ in range(acknowledgement.MAX_ATTEMPTS):
        with pytest.raises(Exception, match="451"):
            acknowledgement.send(ticket.id)
    db.session.refresh(ticket)
    assert ticket.ack_status == "failed"
    message = db.session.query(Message).filter_by(ticket_id=ticket.id, client_id="acknowledgement").one()
    assert message.delivery_status == "failed" and "451" in message.delivery_error
    assert acknowledgement.owed() == []  # the sweep leaves it alone now
    smtp.fail_with = None
    retry_delivery(message)
    db.session.commit()
    assert acknowledgement.send(ticket.id) == "sent"


def test_owed_acknowledgements_go_out_in_batches_each_once(app, smtp, monkeypatch):
    monkeypatch.setattr(acknowledgement, "BATCH", 2)
    made = [web_ticket(email=f"c{n}@example.com") for n in range(5)]
    own = web_ticket(email=app.config["SUPPORT_ADDRESS"])
    assert acknowledgement.send_owed() == {"acknowledgements": 5, "acknowledgement_failures": 0}
    received = smtp.wait_for(5)
    assert sorted(r[0] for r in smtp.recipients) == [f"c{n}@example.com" for n in range(5)]
    for ticket, mail in zip(made, sorted(received, key=lambda m: m["To"]), strict=True):
        db.session.refresh(ticket)
        assert ticket.ack_status == "sent" and f"[{ticket.reference}]" in mail["Subject"]
        assert mail["Auto-Submitted"] == "auto-replied"
    db.session.refresh(own)
    assert own.ack_status == "skipped"
    assert acknowledgement.owed() == []
    assert acknowledgement.send_owed() == {"acknowledgements": 0, "acknowledgement_failures": 0}
    assert len(smtp.messages) == 5


def test_a_refused_batch_stays_owed_and_goes_out_later(app, smtp):
    made = [web_ticket(email=f"r{n}@example.com") for n in range(3)]
    smtp.fail_with = "451 4.3.0 try later"
    assert acknowledgement.send_owed() == {"acknowledgements": 0, "acknowledgement_failures": 3}
    assert acknowledgement.owed() == [t.id for t in made]
    smtp.fail_with = None
    assert acknowledgement.send_owed() == {"acknowledgements": 3, "acknowledgement_failures": 0}
    assert len(smtp.wait_for(3)) == 3
    # one message per ticket, kept across the attempts, with its attempt noted
    messages = db.session.query(Message).filter_by(client_id="acknowledgement").all()
    assert len(messages) == 3 and all(m.delivery_status == "sent" and m.meta["attempts"] == 1 for m in messages)


class TestRedisDown:
    """A Redis of the test's own, killed while the acknowledgement job runs."""

    @pytest.fixture
    def doomed_redis(self):
        server = RedisServer().start()
        yield server
        server.stop()

    @pytest.fixture
    def config_overrides(self, smtp_server, doomed_redis):
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_server.port, "REDIS_URL": doomed_redis.url}

    def test_a_job_failing_before_sending_gives_its_claim_back(self, app, smtp, doomed_redis):
        """Redis dying under the budget check must not hold the acknowledgement back for CLAIM_SECONDS."""
        from redis.exceptions import ConnectionError as RedisConnectionError

        ticket = web_ticket()
        doomed_redis.kill()
        with pytest.raises(RedisConnectionError):
            acknowledgement.send(ticket.id)
        db.session.expire_all()
        assert db.session.get(Ticket, ticket.id).ack_status == "pending"
        assert acknowledgement.owed() == [ticket.id]
        doomed_redis.start()  # an empty Redis on the same port
        assert acknowledgement.send(ticket.id) == "sent"
        assert len(smtp.wait_for(1)) == 1
