"""SLA clocks through the ticket service, with explicit instants: start, meet, pause, resume, breach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from helpdesk import tickets
from helpdesk.extensions import db
from helpdesk.models import SlaClock, Team, TicketEvent
from helpdesk.sla import clocks

MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # desk: UTC, Mon-Fri 09:00-17:00


def receive(at=MONDAY_10, **kw):
    contact = kw.pop("contact", tickets.Contact(email="bob@example.com", name="Bob"))
    received = tickets.receive(tickets.Inbound(channel=kw.pop("channel", "email"), contact=contact,
                                               subject="Help", body_text="Broken", received_at=at, **kw))
    received.ticket.created_at = at
    db.session.flush()
    return received.ticket


def clock(ticket, target) -> SlaClock:
    return db.session.scalar(select(SlaClock).where(SlaClock.ticket_id == ticket.id, SlaClock.target == target))


def sla_events(ticket) -> list[tuple[str, str]]:
    rows = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                        TicketEvent.kind.like("sla.%")).order_by(TicketEvent.id))
    return [(e.kind, e.data.get("target")) for e in rows]


def test_default_policy_promises_two_business_days(app):
    ticket = receive()
    assert ticket.first_response_due_at == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert ticket.resolution_due_at is not None
    assert ticket.sla_next_due_at == ticket.first_response_due_at
    assert sla_events(ticket) == [("sla.start", "first_response"), ("sla.start", "resolution")]


def test_first_reply_meets_first_response_and_next_response_follows_the_customer(app, agent):
    ticket = receive()
    clocks.on_agent_reply(ticket, MONDAY_10 + timedelta(hours=1))
    first = clock(ticket, "first_response")
    assert first.fulfilled_at == MONDAY_10 + timedelta(hours=1) and first.elapsed_minutes == 60
    tuesday = MONDAY_10 + timedelta(days=1)
    clocks.on_customer_message(ticket, tuesday)
    clocks.on_customer_message(ticket, tuesday + timedelta(hours=2))  # still the oldest unanswered one
    next_response = clock(ticket, "next_response")
    assert next_response.started_at == tuesday
    assert next_response.due_at == tuesday + timedelta(days=1)  # one business day
    clocks.on_agent_reply(ticket, tuesday + timedelta(hours=3))
    assert clock(ticket, "next_response").fulfilled_at is not None
    assert ("sla.fulfil", "next_response") in sla_events(ticket)


def test_pending_pauses_and_reopening_resumes(app):
    ticket = receive()
    resolution = clock(ticket, "resolution")
    due_before = resolution.due_at
    clocks.on_status_change(ticket, "open", "pending", MONDAY_10 + timedelta(hours=2))
    assert resolution.due_at is None and resolution.elapsed_minutes == 120
    assert ticket.resolution_due_at is None
    # Paused over a whole business day: the due time moves by exactly that day.
    clocks.on_status_change(ticket, "pending", "open", MONDAY_10 + timedelta(days=1, hours=2))
    assert resolution.due_at == due_before + timedelta(days=1)
    kinds = [k for k, t in sla_events(ticket) if t == "resolution"]
    assert kinds == ["sla.start", "sla.pause", "sla.resume"]


def test_solving_stops_and_reopening_resumes_resolution(app):
    ticket = receive()
    clocks.on_status_change(ticket, "open", "solved", MONDAY_10 + timedelta(hours=1))
    assert clock(ticket, "resolution").fulfilled_at is not None
    assert ticket.sla_next_due_at is None
    clocks.on_status_change(ticket, "solved", "open", MONDAY_10 + timedelta(hours=3))
    resolution = clock(ticket, "resolution")
    assert resolution.running and resolution.elapsed_minutes == 60


def test_vip_and_urgent_get_tighter_targets(app):
    vip = receive(contact=tickets.Contact(email="gold@example.com"))
    vip.customer.vip = True
    clocks.on_reclassify(vip, MONDAY_10)
    assert vip.first_response_due_at == MONDAY_10 + timedelta(hours=4)
    urgent = receive(contact=tickets.Contact(email="fire@example.com"), priority="urgent")
    assert urgent.first_response_due_at == MONDAY_10 + timedelta(hours=1)  # around the clock
    chat = receive(contact=tickets.Contact(visitor="v1"), channel="chat")
    assert chat.first_response_due_at == MONDAY_10 + timedelta(minutes=2)


def test_raising_priority_moves_the_due_time(app, agent):
    ticket = receive()
    ticket.priority = "urgent"
    clocks.on_reclassify(ticket, MONDAY_10 + timedelta(minutes=10))
    assert clock(ticket, "first_response").target_minutes == 60
    # Ten minutes used of the new hour: fifty are left.
    assert ticket.first_response_due_at == MONDAY_10 + timedelta(minutes=60)
    assert ("sla.retarget", "first_response") in sla_events(ticket)


def test_breach_is_never_early_and_happens_once(app, make_agent):
    lead = make_agent(email="lead@helpdesk.test")
    ticket = receive(priority="urgent")
    ticket.team = Team(name="Ops", lead=lead)
    db.session.flush()
    due = ticket.first_response_due_at
    assert clocks.check(ticket.id, "first_response", due - timedelta(seconds=1)) in ("not yet", "warned")
    assert ticket.sla_breaches == []
    assert clocks.check(ticket.id, "first_response", due) == "breached"
    assert clocks.check(ticket.id, "first_response", due + timedelta(minutes=5)) == "nothing to do"
    db.session.refresh(ticket)
    assert ticket.sla_breaches == ["first_response"] and ticket.sla_breached_at == due
    assert ticket.assignee == lead  # the Urgent policy escalates to the team lead
    assert sla_events(ticket).count(("sla.breach", "first_response")) == 1


def test_warning_comes_before_the_breach(app):
    ticket = receive(priority="urgent")
    first = clock(ticket, "first_response")
    assert first.warn_at == MONDAY_10 + timedelta(minutes=45)  # 75 % of an hour
    assert clocks.check(ticket.id, "first_response", first.warn_at) == "warned"
    assert clocks.check(ticket.id, "first_response", first.warn_at + timedelta(minutes=1)) == "not yet"
    assert ("sla.warn", "first_response") in sla_events(ticket)


def test_a_met_target_never_breaches(app):
    ticket = receive(priority="urgent")
    clocks.on_agent_reply(ticket, MONDAY_10 + timedelta(minutes=5))
    assert clocks.check(ticket.id, "first_response", MONDAY_10 + timedelta(days=3)) == "nothing to do"


def test_due_clocks_finds_what_timers_missed(app):
    early = receive(priority="urgent")
    receive(contact=tickets.Contact(email="later@example.com"))
    found = clocks.due_clocks(MONDAY_10 + timedelta(hours=2))
    assert (early.id, "first_response") in found
    assert all(ticket_id == early.id for ticket_id, _ in found)


@pytest.mark.parametrize("channel", ["email", "web"])
def test_new_human_requests_owe_an_acknowledgement(app, channel):
    assert receive(channel=channel).ack_status == "pending"


def test_machine_mail_and_other_channels_owe_none(app):
    assert receive(machine=True).ack_status == "skipped"
    assert receive(channel="phone", contact=tickets.Contact(phone="+14155550100")).ack_status is None


def test_one_pass_handles_every_clock_due_and_says_when_to_wake(app):
    from helpdesk.sla import timers

    made = [receive(contact=tickets.Contact(email=f"c{n}@example.com"), priority="urgent") for n in range(20)]
    db.session.commit()
    assert clocks.next_due(MONDAY_10) == MONDAY_10 + timedelta(minutes=45)  # the first warning
    assert timers.handle_due(MONDAY_10 + timedelta(minutes=59)) == {"breached": 0, "warned": 20}
    assert timers.handle_due(MONDAY_10 + timedelta(minutes=61)) == {"breached": 20, "warned": 0}
    assert timers.handle_due(MONDAY_10 + timedelta(minutes=62)) == {"breached": 0, "warned": 0}
    assert all(db.session.get(type(t), t.id).sla_breaches == ["first_response"] for t in made)
    # Next: the resolution warnings (75 % of eight hours around the clock).
    assert clocks.next_due(MONDAY_10 + timedelta(minutes=62)) == MONDAY_10 + timedelta(hours=6)


def test_one_timer_loop_leads_and_due_jobs_stand_aside(app):
    from redis import Redis

    from helpdesk.sla import timers
    from workers.app import set_app
    from workers.sla import check_due

    connection = Redis.from_url(app.config["REDIS_URL"])
    assert not timers.leader_alive()
    assert timers._lead(connection, "worker-a") and timers._lead(connection, "worker-a")
    assert not timers._lead(connection, "worker-b")
    assert timers.leader_alive()
    set_app(app)
    assert check_due() == {}  # the leader's loop handles due clocks
    connection.delete(timers.LEADER_KEY)  # the leader died: its key expires
    assert timers._lead(connection, "worker-b")


def test_a_pass_larger_than_its_limit_commits_in_several_and_misses_none(app, monkeypatch):
    from helpdesk.sla import timers

    monkeypatch.setattr(timers, "PASS_LIMIT", 7)
    made = [receive(contact=tickets.Contact(email=f"p{n}@example.com"), priority="urgent") for n in range(20)]
    db.session.commit()
    # one claim takes at most its limit, and does not warn clocks that are already due
    assert clocks.check_due(MONDAY_10 + timedelta(minutes=61), limit=7) == {"breached": 7, "warned": 0}
    db.session.commit()
    assert timers.handle_due(MONDAY_10 + timedelta(minutes=61)) == {"breached": 13, "warned": 0}
    for ticket in made:
        db.session.refresh(ticket)
        assert ticket.sla_breaches == ["first_response"]
        assert ticket.sla_breached_at == MONDAY_10 + timedelta(minutes=61)
        # the clock no longer runs unbreached, so the next due time is the resolution's
        assert ticket.sla_next_due_at == clock(ticket, "resolution").due_at
        assert sla_events(ticket)[-1] == ("sla.breach", "first_response")


def test_a_clock_met_before_the_pass_is_not_breached(app, agent):
    from helpdesk.sla import timers

    met, missed = (receive(contact=tickets.Contact(email=f"m{n}@example.com"), priority="urgent") for n in range(2))
    clocks.on_agent_reply(met, MONDAY_10 + timedelta(minutes=30))
    db.session.commit()
    assert timers.handle_due(MONDAY_10 + timedelta(minutes=61)) == {"breached": 1, "warned": 0}
    assert clock(met, "first_response").breached_at is None
    assert clock(missed, "first_response").breached_at == MONDAY_10 + timedelta(minutes=61)


def test_a_clock_breached_in_a_pass_is_not_also_warned(app):
    from helpdesk.sla import timers

    ticket = receive(priority="urgent")
    db.session.commit()
    assert timers.handle_due(MONDAY_10 + timedelta(minutes=61)) == {"breached": 1, "warned": 0}
    assert clock(ticket, "first_response").warned_at is None
    assert ("sla.warn", "first_response") not in sla_events(ticket)


def test_two_passes_at_once_breach_each_clock_exactly_once(app):
    """The timer loop and the sweep may run together: they split the due clocks, never share one."""
    import threading

    from helpdesk.sla import timers

    made = [receive(contact=tickets.Contact(email=f"t{n}@example.com"), priority="urgent") for n in range(30)]
    db.session.commit()
    now = MONDAY_10 + timedelta(minutes=61)
    if db.engine.dialect.name == "postgresql":
        # A clock another pass holds is skipped, not waited for (SQLite has no row locks).
        held = clock(made[0], "first_response").id
        db.session.commit()
        with db.engine.connect() as other:
            other.execute(select(SlaClock.id).where(SlaClock.id == held).with_for_update())
            assert timers.handle_due(now) == {"breached": 29, "warned": 0}
            other.rollback()
    results = []

    def run():
        with app.app_context():
            results.append(timers.handle_due(now)["breached"])

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == (1 if db.engine.dialect.name == "postgresql" else 30)
    breaches = db.session.scalars(select(TicketEvent.ticket_id).where(TicketEvent.kind == "sla.breach")).all()
    assert sorted(breaches) == sorted(t.id for t in made)


def test_scheduled_jobs_are_never_queued_for_before_their_time():
    """RQ truncates a scheduled time to the second; enqueue rounds it up instead (the chat accept time-out
    ran up to a second early and, finding the offer too recent, left the chat waiting for good)."""
    from workers.queues import not_before

    assert not_before(datetime(2026, 11, 23, 10, 0, 1, 900_000, tzinfo=UTC)) == datetime(2026, 11, 23, 10, 0, 2,
                                                                                         tzinfo=UTC)
    assert not_before(datetime(2026, 11, 23, 10, 0, 2, tzinfo=UTC)) == datetime(2026, 11, 23, 10, 0, 2, tzinfo=UTC)
    assert not_before(datetime(2026, 11, 23, 10, 0, 2)) == datetime(2026, 11, 23, 10, 0, 2, tzinfo=UTC)
