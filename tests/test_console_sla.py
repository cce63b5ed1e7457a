"""SLA in the console: badges, the two SLA views, and the SLA, calendar, acknowledgement and mailbox admin pages."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from helpdesk import storage, tickets
from helpdesk.console import sla_display
from helpdesk.extensions import db
from helpdesk.models import AckTemplate, CalendarSettings, Closure, InboundEmail, Mailbox, SlaClock, SlaPolicy, Ticket
from helpdesk.models.base import utcnow
from helpdesk.sla import acknowledgement, clocks, policies
from helpdesk.tickets.queries import TicketFilter, list_tickets

PASSWORD = "correct horse battery"


def sign_in(client, who):
    """Sign ``who`` in through the form."""
    assert client.post("/console/login", data={"email": who.email, "password": PASSWORD}).status_code == 302
    return client


@pytest.fixture
def config_overrides(smtp_server):
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_server.port}


@pytest.fixture
def fast(app):
    """Add a one-hour, around-the-clock policy for web tickets, matched before the others."""
    policy = policies.create_policy("Web fast", {"channel": "web"}, 60, 60, 600, business_hours=False, position=-10)
    db.session.commit()
    return policy


def _row(page: str, reference: str) -> str:
    found = re.search(rf'<tr data-reference="{reference}".*?</tr>', page, re.S)
    assert found, reference
    return found[0]


def _breach_first_response(ticket: Ticket) -> SlaClock:
    clock = clocks.clocks_of(ticket)["first_response"]
    assert clocks.check(ticket.id, "first_response", now=clock.due_at) == "breached"
    db.session.commit()
    return clock


def _references(page: str) -> list[str]:
    return re.findall(r'<tr data-reference="([^"]+)"', page)


# Badges ------------------------------------------------------------------------------------------------------


def test_badges_on_list_and_ticket_page(client, agent, fast, make_ticket):
    now = utcnow()
    calm = make_ticket(subject="Calm", channel="web", received_at=now)
    warned = make_ticket(subject="Warned", channel="web", received_at=now - timedelta(minutes=50))
    late = make_ticket(subject="Late", channel="web", received_at=now - timedelta(hours=3))
    assert clocks.check(warned.id, "first_response", now) == "warned"
    _breach_first_response(late)
    sign_in(client, agent)

    page = client.get("/console/tickets?view=open").get_data(as_text=True)
    assert re.search(r'class="sla sla-ok"[^>]*>(59|60)m left<', _row(page, calm.reference))
    assert re.search(r'class="sla sla-warn"[^>]*>(9|10)m left<', _row(page, warned.reference))
    assert re.search(r'class="sla sla-breach"[^>]*>Breached 2h ago<', _row(page, late.reference))

    page = client.get(f"/console/tickets/{late.reference}").get_data(as_text=True)
    assert "Breached 2h ago" in page
    targets = re.search(r'<table class="plain sla-targets">.*?</table>', page, re.S)[0]
    assert re.search(r"First response</th><td><span class=\"sla sla-breach\"", targets)
    assert re.search(r"Resolution</th><td><span class=\"sla sla-ok\"[^>]*>6h 59m left<|7h left<", targets)
    assert "Why these times?" in page and "First response breached (was due" in page
    assert "First response started under Web fast: 60 wall-clock minutes" in page


def test_business_time_left_counts_open_hours(app, make_ticket):
    from helpdesk.sla import settings

    settings.save_calendar("UTC", "Mon-Fri 09:00-17:00", "")
    db.session.commit()
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    ticket = make_ticket(subject="Before the weekend", received_at=friday)  # Default: 2 business days
    assert ticket.first_response_due_at == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    badge = sla_display.list_badges([ticket], now=friday)[ticket.id]
    assert (badge.text, badge.tone) == ("2d left", "ok")  # two business days, though four on the wall
    badge = sla_display.list_badges([ticket], now=friday + timedelta(hours=2))[ticket.id]
    assert badge.text == "1d 7h left"  # the weekend does not count
    assert sla_display.duration(135) == "2h 15m" and sla_display.duration(76 * 60) == "3d 4h"


def test_paused_and_solved_tickets(client, agent, fast, make_ticket):
    ticket = make_ticket(subject="Waiting on customer", channel="web")
    tickets.reply(ticket, agent, "Can you send a screenshot?", status="pending")
    db.session.commit()
    sign_in(client, agent)
    page = client.get(f"/console/tickets/{ticket.reference}").get_data(as_text=True)
    assert "Paused, " in page and ">Met<" in page  # resolution paused, first response met


# Views -------------------------------------------------------------------------------------------------------


def test_breaching_soon_and_breached_views(client, agent, fast, make_ticket):
    now = utcnow()
    soon = make_ticket(subject="Soon", channel="web", received_at=now)
    sooner = make_ticket(subject="Sooner", channel="web", received_at=now - timedelta(minutes=30))
    make_ticket(subject="Far", channel="email", received_at=now)  # days of business time left
    late = make_ticket(subject="Late", channel="web", received_at=now - timedelta(hours=3))
    _breach_first_response(late)
    done = make_ticket(subject="Late but solved", channel="web", received_at=now - timedelta(hours=3))
    _breach_first_response(done)
    tickets.set_status(done, "solved", agent)
    db.session.commit()
    sign_in(client, agent)

    page = client.get("/console/tickets?view=breaching").get_data(as_text=True)
    assert _references(page) == [sooner.reference, soon.reference]  # soonest first
    assert re.search(r'Breaching soon</span>\s*<span class="count"[^>]*>2<', page)
    assert re.search(r'Breached</span>\s*<span class="count"[^>]*>1<', page)
    page = client.get("/console/tickets?view=breached").get_data(as_text=True)
    assert _references(page) == [late.reference]


def test_breaching_view_is_keyset_paginated(client, agent, fast, make_ticket):
    now = utcnow()
    made = [make_ticket(subject=f"Soon {n}", channel="web", received_at=now - timedelta(minutes=n)).reference
            for n in range(30)]
    sign_in(client, agent)
    seen, url = [], "/console/tickets?view=breaching"
    while url:
        page = client.get(url).get_data(as_text=True)
        seen += _references(page)
        found = re.search(r'rel="next" href="([^"]+)"', page)
        url = found[1].replace("&amp;", "&") if found else None
    assert seen == list(reversed(made))  # the oldest arrival falls due first


def test_due_sort_pages_through_rows_without_a_due_time(app, agent, fast, make_ticket):
    now = utcnow()
    made = [make_ticket(subject=f"T{n}", channel="web", received_at=now - timedelta(minutes=n)) for n in range(4)]
    for ticket in made[:2]:
        tickets.set_status(ticket, "solved", agent)  # no running clock: sla_next_due_at is NULL
    db.session.commit()
    seen, cursor = [], None
    while True:
        rows, cursor = list_tickets(agent, TicketFilter(view="all"), "due", cursor, limit=1)
        seen += [t.id for t in rows]
        if cursor is None:
            break
    assert seen == [made[3].id, made[2].id, made[0].id, made[1].id]  # due ascending, then NULLs by id


# Admin: access -----------------------------------------------------------------------------------------------

ADMIN_PAGES = ("/console/admin/sla", "/console/admin/calendar", "/console/admin/acknowledgement",
               "/console/admin/acknowledgement?language=fr", "/console/admin/mailboxes")


def test_admin_pages_are_for_admins_only(client, agent, admin, fast):
    mailbox = Mailbox(host="imap.test", username="support", folder="INBOX")
    db.session.add(mailbox)
    db.session.commit()
    sign_in(client, agent)
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403, path
    for path in (f"/console/admin/sla/{fast.id}", f"/console/admin/sla/{fast.id}/delete",
                 f"/console/admin/sla/{fast.id}/move", "/console/admin/calendar/closures",
                 "/console/admin/acknowledgement/en/reset", f"/console/admin/mailboxes/{mailbox.id}/resync"):
        assert client.post(path, data={"direction": "up"}).status_code == 403, path
    assert db.session.get(SlaPolicy, fast.id) is not None and not mailbox.resync_requested
    client.post("/console/logout")
    sign_in(client, admin)
    for path in ADMIN_PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "style=" not in response.get_data(as_text=True) and "<script>" not in response.get_data(as_text=True)


# Admin: policies ---------------------------------------------------------------------------------------------


def _policy_form(**overrides) -> dict:
    form = {"name": "Phone", "match_priority": "", "match_channel": "phone", "match_vip": "",
            "first_response": "2h", "next_response": "1h", "resolution": "1d", "business_hours": "always",
            "escalation": "none"}
    return {**form, **overrides}


def _error_of(page: str, field: str) -> str | None:
    found = re.search(rf'<p class="error" id="{field}-error">([^<]+)</p>', page)
    return html.unescape(found[1]) if found else None


def test_policy_admin_validates_creates_edits_moves_deletes(client, admin, make_ticket):
    sign_in(client, admin)
    page = client.get("/console/admin/sla").get_data(as_text=True)
    assert 'data-policy="Default"' in page and 'data-policy="Urgent"' in page
    count = db.session.scalar(select(func.count(SlaPolicy.id)))

    response = client.post("/console/admin/sla", data=_policy_form(first_response="-5"))
    assert response.status_code == 400
    assert _error_of(response.get_data(as_text=True), "first_response") == "Must be a positive duration."
    response = client.post("/console/admin/sla", data=_policy_form(resolution="0"))
    assert response.status_code == 400
    assert "from 0.01 to 525600" in _error_of(response.get_data(as_text=True), "resolution")
    assert db.session.scalar(select(func.count(SlaPolicy.id))) == count

    assert client.post("/console/admin/sla", data=_policy_form()).status_code == 302
    policy = db.session.scalar(select(SlaPolicy).where(SlaPolicy.name == "Phone"))
    assert (policy.first_response_minutes, policy.next_response_minutes, policy.resolution_minutes) == (120, 60, 1440)
    assert (policy.match_channel, policy.business_hours) == ("phone", False)
    assert [p.name for p in policies.ordered()][-2:] == ["Phone", "Default"]  # just before the catch-all

    now = utcnow()
    call = make_ticket(subject="Called in", channel="phone", received_at=now)
    assert call.sla_policy_id == policy.id and call.first_response_due_at == now + timedelta(minutes=120)

    page = client.get(f"/console/admin/sla/{policy.id}").get_data(as_text=True)
    assert 'value="2h"' in page and 'value="1d"' in page
    edited = _policy_form(first_response="30m", business_hours="business", escalation="raise_priority")
    assert client.post(f"/console/admin/sla/{policy.id}", data=edited).status_code == 302
    db.session.expire_all()
    assert (policy.first_response_minutes, policy.business_hours, policy.escalation) == (30, True, "raise_priority")
    bad = client.post(f"/console/admin/sla/{policy.id}", data=_policy_form(name=""))
    assert bad.status_code == 400
    db.session.expire_all()
    assert policy.name == "Phone"

    before = [p.name for p in policies.ordered()]
    assert client.post(f"/console/admin/sla/{policy.id}/move", data={"direction": "up"}).status_code == 302
    db.session.expire_all()
    after = [p.name for p in policies.ordered()]
    index = before.index("Phone")
    assert after[index - 1] == "Phone" and after[index] == before[index - 1]

    assert client.post(f"/console/admin/sla/{policy.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(SlaPolicy, policy.id) is None
    assert db.session.get(Ticket, call.id).sla_policy_id is None


# Admin: the calendar -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("field,value,message", [
    ("hours", "Mon 9-5", "bad period '9-5'"),
    ("timezone", "Mars/Olympus_Mons", "is not an IANA time zone"),
    ("holidays", "XX", "is not a known country"),
])
def test_calendar_admin_refuses_bad_settings(client, admin, field, value, message):
    sign_in(client, admin)
    form = {"timezone": "America/Toronto", "hours": "Mon-Fri 08:00-12:00", "holidays": "CA", field: value}
    response = client.post("/console/admin/calendar", data=form)
    assert response.status_code == 400
    assert message in _error_of(response.get_data(as_text=True), field)
    assert db.session.scalar(select(func.count(CalendarSettings.id))) == 0


def test_calendar_admin_saves_and_new_tickets_count_in_it(client, admin, make_ticket):
    sign_in(client, admin)
    page = client.get("/console/admin/calendar").get_data(as_text=True)
    assert "Now: " in page and "09:00–17:00" in page
    policy = policies.create_policy("Calls", {"channel": "phone"}, 240, None, None, business_hours=True, position=-5)
    db.session.commit()

    form = {"timezone": "America/Toronto", "hours": "Mon-Fri 08:00-12:00", "holidays": "ca"}
    assert client.post("/console/admin/calendar", data=form).status_code == 302
    assert policies.calendar_settings() == ("Mon-Fri 08:00-12:00", "America/Toronto", "CA")
    page = client.get("/console/admin/calendar").get_data(as_text=True)
    assert re.search(r"<th scope=\"row\">Mon</th><td>08:00–12:00</td>", page)
    assert re.search(r"<th scope=\"row\">Sat</th><td>Closed</td>", page)
    assert "Christmas Day" in page  # among the next five closed days

    monday = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 11:00 in Toronto: one open hour left that day
    ticket = make_ticket(subject="Called", channel="phone", received_at=monday)
    assert ticket.sla_policy_id == policy.id
    assert ticket.first_response_due_at == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # Tue 11:00 Toronto

    bad = client.post("/console/admin/calendar/closures", data={"first_day": "2026-12-10", "last_day": "2026-12-09"})
    assert bad.status_code == 400
    assert _error_of(bad.get_data(as_text=True), "last_day") == "The last day cannot be before the first."
    ok = client.post("/console/admin/calendar/closures", data={"first_day": "2026-12-07", "reason": "Move"})
    assert ok.status_code == 302
    closure = db.session.scalar(select(Closure))
    assert (closure.first_day.isoformat(), closure.last_day.isoformat(), closure.reason) == ("2026-12-07",
                                                                                          "2026-12-07", "Move")
    assert "Move" in client.get("/console/admin/calendar").get_data(as_text=True)
    assert client.post(f"/console/admin/calendar/closures/{closure.id}/delete").status_code == 302
    assert db.session.scalar(select(func.count(Closure.id))) == 0


# Admin: the acknowledgement ----------------------------------------------------------------------------------


def test_acknowledgement_admin_edits_the_next_email(client, admin, make_ticket, smtp_server, app):
    from helpdesk.channels.email import smtp as smtp_client

    smtp_client.close()
    smtp_server.messages.clear()
    smtp_server.fail_with = None
    sign_in(client, admin)
    page = client.get("/console/admin/acknowledgement").get_data(as_text=True)
    assert "{portal_url}" in page and "Dana Scully" in page and "business days" in page

    bad = client.post("/console/admin/acknowledgement?language=en", data={"subject": "Hi", "body": "Dear {nom}"})
    assert bad.status_code == 400 and "Unknown placeholder {nom}" in _error_of(bad.get_data(as_text=True), "body")
    assert db.session.scalar(select(func.count(AckTemplate.id))) == 0

    form = {"subject": "Got it [{reference}]", "body": "Hi {name}, we answer by {due}.\nRef {reference}"}
    assert client.post("/console/admin/acknowledgement?language=en", data=form).status_code == 302
    page = client.get("/console/admin/acknowledgement").get_data(as_text=True)
    assert "Hi Dana Scully, we answer by" in page  # the preview

    ticket = make_ticket(subject="Broken", email="gina@example.com", name="Gina")
    assert acknowledgement.send(ticket.id) == "sent"
    [mail] = smtp_server.wait_for(1)
    assert mail["Subject"] == f"Got it [{ticket.reference}]"
    assert mail.get_body(("plain",)).get_content().startswith("Hi Gina, we answer by ")

    assert client.post("/console/admin/acknowledgement/en/reset").status_code == 302
    assert acknowledgement.template_for("en") == acknowledgement.DEFAULTS["en"]


# Admin: mailboxes --------------------------------------------------------------------------------------------


def test_mailbox_health_and_resync(client, admin):
    now = utcnow()
    mailbox = Mailbox(host="imap.test", username="support", folder="INBOX", last_uid=41, uidvalidity=7,
                      last_success_at=now - timedelta(minutes=20), last_sync_at=now - timedelta(minutes=1),
                      last_error="OSError: connection refused", last_error_at=now - timedelta(minutes=1),
                      waiting=3, lag_seconds=4.5)
    db.session.add(mailbox)
    db.session.flush()
    raw = b"From: x@example.com\r\nSubject: broken\r\n\r\n\xff\xfe"
    digest = storage.store(raw, limit=None)
    failed = InboundEmail(mailbox_id=mailbox.id, uid=40, sha256=digest, size=len(raw), status="failed",
                          error="ValueError: nonsense")
    db.session.add_all([failed, InboundEmail(mailbox_id=mailbox.id, uid=41, sha256=digest, size=len(raw),
                                             status="imported")])
    db.session.commit()
    sign_in(client, admin)
    page = client.get("/console/admin/mailboxes").get_data(as_text=True)
    assert "support@imap.test/INBOX" in page and "OSError: connection refused" in page
    assert "failed 1" in page and "imported 1" in page and "3 messages" in page and "4.5 s" in page
    assert "ValueError: nonsense" in page
    link = re.search(r'href="(/console/admin/inbound/\d+/raw)"', page)[1]
    response = client.get(link)
    assert response.data == raw and response.headers["X-Content-Type-Options"] == "nosniff"

    assert client.post(f"/console/admin/mailboxes/{mailbox.id}/resync").status_code == 302
    db.session.expire_all()
    assert db.session.get(Mailbox, mailbox.id).resync_requested is True
    assert "Resync requested" in client.get("/console/admin/mailboxes").get_data(as_text=True)
