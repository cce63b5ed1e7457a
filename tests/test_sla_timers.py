"""SLA timers and acknowledgements with a real `python -m workers` on a real Redis, killed mid-flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from helpdesk import tickets
from helpdesk.channels.email.intake import import_bytes
from helpdesk.extensions import db
from helpdesk.models import Ticket, TicketEvent
from helpdesk.sla import policies
from tests.support.servers import ROOT, RedisServer


@pytest.fixture
def redis_doomed():
    """A Redis of this test's own, which it may kill and restart."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def config_overrides(redis_doomed, smtp_server):
    return {"REDIS_URL": redis_doomed.url, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_server.port}


@pytest.fixture
def worker(app, migrated, redis_doomed, smtp):
    """Run the real supervised worker against this test's Redis and SMTP server."""
    env = {**os.environ, **migrated, "REDIS_URL": redis_doomed.url, "SMTP_HOST": "127.0.0.1",
           "SMTP_PORT": str(smtp.port), "HELPDESK_SWEEP_SECONDS": "2"}
    process = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env, start_new_session=True)
    yield process
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the supervisor's child, whatever state it is in
    except ProcessLookupError:
        pass
    process.wait(10)


@pytest.fixture
def fast_policy(app):
    """Web tickets: first reply due in 3 seconds, resolution in 6, around the clock."""
    policies.create_policy("Fast web", {"channel": "web"}, first_response_minutes=0.05, resolution_minutes=0.1,
                           business_hours=False, position=-1)
    db.session.commit()


def web_ticket(n: int) -> Ticket:
    received = tickets.receive(tickets.Inbound(
        channel="web", contact=tickets.Contact(email=f"customer{n}@example.com", name=f"Customer {n}"),
        subject=f"Request {n}", body_text="Please help."))
    db.session.commit()
    return received.ticket


def acknowledgements(smtp) -> Counter:
    """Count acknowledgement emails per ticket reference."""
    return Counter(m["Subject"].split("[")[1].split("]")[0] for m in list(smtp.messages)
                   if m["Auto-Submitted"] == "auto-replied")


def breaches() -> Counter:
    rows = db.session.execute(select(TicketEvent.ticket_id, TicketEvent.data).where(TicketEvent.kind == "sla.breach"))
    return Counter((ticket_id, data["target"]) for ticket_id, data in rows)


def wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        db.session.expire_all()
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_acknowledgement_promises_the_first_response_due_time(app, worker, smtp):
    raw = (b"From: Bob <bob@example.com>\r\nTo: support@helpdesk.test\r\nSubject: Printer\r\n"
           b"Message-ID: <bob-1@example.com>\r\n\r\nIt is on fire.\r\n")
    ticket = import_bytes(raw).message.ticket
    reference = ticket.reference
    wait_until(lambda: acknowledgements(smtp)[reference] == 1, 20)
    [ack] = [m for m in smtp.messages if m["Auto-Submitted"] == "auto-replied"]
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert ack["In-Reply-To"] == "<bob-1@example.com>"
    assert ack["To"] == "bob@example.com"
    ticket = db.session.get(Ticket, ticket.id)
    body = ack.get_content()
    from helpdesk.sla.acknowledgement import format_due

    assert format_due(ticket) in body  # the promised date is exactly first_response_due_at
    assert f"/portal/tickets/{reference}?key=" in body
    assert ticket.ack_sent_at is not None and ticket.ack_status == "sent"


def test_timers_breach_each_target_once(app, worker, smtp, fast_policy):
    made = [web_ticket(n) for n in range(5)]
    ids = {t.id for t in made}
    wait_until(lambda: len([k for k in breaches() if k[0] in ids]) == 10, 40)
    assert set(breaches().values()) == {1}
    for ticket in made:
        ticket = db.session.get(Ticket, ticket.id)
        assert sorted(ticket.sla_breaches) == ["first_response", "resolution"]
        # Never early: the breach is recorded at or after the due time.
        assert ticket.sla_breached_at >= ticket.first_response_due_at
    wait_until(lambda: len(acknowledgements(smtp)) == 5, 20)
    assert set(acknowledgements(smtp).values()) == {1}


def test_redis_killed_and_restarted_loses_and_repeats_nothing(app, worker, smtp, fast_policy, redis_doomed):
    first = [web_ticket(n) for n in range(10)]
    redis_doomed.kill()
    during = [web_ticket(n) for n in range(10, 20)]  # their jobs cannot be queued: Redis is down
    time.sleep(2)
    redis_doomed.start()  # an empty Redis on the same port: every scheduled timer is gone
    made = first + during
    ids = {t.id for t in made}
    references = {t.reference for t in made}
    wait_until(lambda: set(acknowledgements(smtp)) >= references, 90)
    wait_until(lambda: len([k for k in breaches() if k[0] in ids]) == 40, 90)
    assert set(acknowledgements(smtp).values()) == {1}, acknowledgements(smtp)
    assert set(breaches().values()) == {1}
    assert db.session.scalar(select(func.count(Ticket.id)).where(Ticket.ack_status == "sent")) == 20
