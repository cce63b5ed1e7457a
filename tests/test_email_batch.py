"""The batch import path: the same rows as one message at a time, a failing message, reading in processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime

import pytest
from sqlalchemy import event, select

from helpdesk.channels.email import intake
from helpdesk.channels.email.reading import READER_NICENESS, Reader, read_many
from helpdesk.extensions import db
from helpdesk.models import (
    CustomerIdentity,
    InboundEmail,
    Message,
    SlaClock,
    Ticket,
    TicketEvent,
)
from tests.conftest import _empty_tables, corpus
from tests.support.live import emitted_through_redis

OWN = frozenset({"support@helpdesk.test"})


@pytest.fixture
def config_overrides():
    # Around the clock, so every due time is its ticket's creation time plus the target: comparable across runs.
    return {"BUSINESS_HOURS": "24/7", "SUPPORT_ADDRESS": "support@helpdesk.test"}


def mail(message_id: str, sender: str = "alice@example.com", subject: str = "Printer on fire", body: str = "Help!",
         headers: str = "") -> bytes:
    """Return a small RFC 5322 message."""
    return (
        f"From: Someone <{sender}>\r\nTo: support@helpdesk.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def reply(message_id: str, parent: str, **kwargs) -> bytes:
    """Return a reply naming ``parent`` in In-Reply-To and References."""
    return mail(message_id, headers=f"In-Reply-To: <{parent}>\r\nReferences: <{parent}>\r\n", **kwargs)


BOUNCE = b"""From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: support@helpdesk.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@mx.example.net>
Content-Type: multipart/report; report-type=delivery-status; boundary="r"

--r
Content-Type: text/plain

Your mail could not be delivered.
--r
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; gone@example.com
Action: failed
Status: 5.1.1

--r
Content-Type: message/rfc822

From: support@helpdesk.test
To: gone@example.com
Subject: Your ticket
Message-ID: <earlier-gone@example.com>

Our reply.
--r--
"""


def _before() -> None:
    """Make the tickets the batch refers to: one open, one solved, one closed, one whose customer's mail bounces."""
    for raw in (mail("earlier-open@example.com", sender="olga@example.com", subject="Open one"),
                mail("earlier-solved@example.com", sender="sol@example.com", subject="Solved one"),
                mail("earlier-closed@example.com", sender="carl@example.com", subject="Closed one"),
                mail("earlier-gone@example.com", sender="gone@example.com", subject="Gone one")):
        intake.import_bytes(raw)
    for external_id, status in (("earlier-solved@example.com", "solved"), ("earlier-closed@example.com", "closed")):
        message = db.session.scalar(select(Message).where(Message.external_id == external_id))
        message.ticket.status = status
    db.session.commit()


BATCH = [
    mail("new-a@example.com"),  # a new ticket
    mail("new-b@example.com", sender="bob@example.com", subject="Login broken"),
    reply("reply-a@example.com", "new-a@example.com", subject="Re: Printer on fire", body="Still burning."),
    mail("new-c@example.com", subject="Another question"),  # the same sender again, a second ticket
    mail("new-a@example.com"),  # the same Message-ID again in the batch
    reply("reply-open@example.com", "earlier-open@example.com", sender="olga@example.com", subject="Re: Open one"),
    reply("reply-open-2@example.com", "earlier-open@example.com", sender="olga@example.com", subject="Re: Open one"),
    reply("reply-solved@example.com", "earlier-solved@example.com", sender="sol@example.com",
          subject="Re: Solved one"),
    reply("reply-closed@example.com", "earlier-closed@example.com", sender="carl@example.com",
          subject="Re: Closed one"),
    BOUNCE,
    b"\x00\xff\xfe not an email at all \x00" * 10,  # malformed: stored raw and shown
    mail("new-d@example.com", sender="dora@example.com", subject="Out of office",
         headers="Auto-Submitted: auto-replied\r\n"),  # machine mail
    mail("earlier-open@example.com", sender="olga@example.com", subject="Open one"),  # received before the batch
]


def _offset(value, start) -> float | None:
    return None if value is None else round((value - start).total_seconds(), 3)


def _clean(value):
    """Replace what differs between two runs (ids, references, timestamps) in event data and meta."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in ("message_id", "due_at", "bounce_of")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"HD-\d+", "HD-n", value)
    return value


def snapshot() -> dict:
    """Return every row intake writes, without ids and clock times."""
    tickets = list(db.session.scalars(select(Ticket).order_by(Ticket.id)))
    number = {t.id: n for n, t in enumerate(tickets)}
    rows = {"tickets": [], "messages": [], "identities": [], "inbound": []}
    for t in tickets:
        clocks = db.session.scalars(select(SlaClock).where(SlaClock.ticket_id == t.id).order_by(SlaClock.target))
        events = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == t.id).order_by(TicketEvent.id))
        rows["tickets"].append({
            "subject": t.subject, "status": t.status, "channel": t.channel, "priority": t.priority,
            "customer": t.customer.email or t.customer.name, "team": t.team_id, "policy": t.sla_policy_id,
            "ack": t.ack_status, "follow_up_of": number.get(t.follow_up_of_id),
            "due": [_offset(t.first_response_due_at, t.created_at), _offset(t.next_response_due_at, t.created_at),
                    _offset(t.resolution_due_at, t.created_at), _offset(t.sla_next_due_at, t.created_at)],
            "waiting": t.last_customer_message_at is not None,
            "clocks": [(c.target, c.target_minutes, c.business, c.running, _offset(c.due_at, c.started_at),
                        _offset(c.warn_at, c.started_at)) for c in clocks],
            "events": [(e.kind, e.actor_type, _clean(e.data)) for e in events],
        })
    for m in db.session.scalars(select(Message).order_by(Message.id)):
        rows["messages"].append((number[m.ticket_id], m.author_type, m.body_text, m.external_id and
                                 re.sub(r"[0-9a-f]{64}", "hash", m.external_id), _clean(m.meta),
                                 len(m.attachments)))
    for i in db.session.scalars(select(CustomerIdentity).order_by(CustomerIdentity.kind, CustomerIdentity.value)):
        rows["identities"].append((i.kind, i.value, i.undeliverable, i.customer.name))
    rows["inbound"] = sorted(r.status for r in db.session.scalars(select(InboundEmail)))
    return rows


def _import_one_by_one(raws: list[bytes]) -> None:
    rows = intake.store_raw(None, None, [intake.Fetched(uid=None, raw=raw) for raw in raws])
    for row, raw in zip(rows, raws, strict=True):
        if row.status not in ("imported", "duplicate"):
            intake.import_one(row, raw)
    db.session.commit()


def consoles_told(live) -> list[tuple]:
    """Return the ``ticket`` events the consoles were sent, read from Redis: (room, change, ticket without ids).

    Times are kept as offsets from the ticket's creation, but for ``updated_at``: a
    clock time either way, and one at a time announces a new ticket as it is at
    the commit (after the batch's later replies to it), the batch as it wrote it.
    """
    told = []
    for sent in live():
        if sent.get("event") != "ticket":
            continue
        data = sent["data"][0]
        ticket = dict(data["ticket"])
        created = datetime.fromisoformat(ticket.pop("created_at"))
        del ticket["updated_at"]
        for key in [k for k in ticket if k.endswith("_at")]:
            ticket[key] = ticket[key] and _offset(datetime.fromisoformat(ticket[key]), created)
        ticket["customer"] = {k: v for k, v in ticket["customer"].items() if k != "id"}
        told.append((sent["room"], data["change"], _clean(ticket)))
    return sorted(told, key=repr)


def test_a_batch_gives_the_rows_one_message_at_a_time_gives(app):
    _before()
    live = emitted_through_redis(app)
    counts = intake.process_batch(None, None, [intake.Fetched(uid=None, raw=raw) for raw in BATCH])
    assert counts == {"imported": 11, "duplicate": 2}
    batched, batch_told = snapshot(), consoles_told(live)

    _empty_tables()
    _before()
    live = emitted_through_redis(app)
    _import_one_by_one(BATCH)
    assert snapshot() == batched
    # The batch announces its new tickets from what it wrote; one at a time loads each again: the same events.
    assert consoles_told(live) == batch_told
    assert [change for _, change, _ in batch_told].count("created") == 6

    threading = {m.external_id: m.meta["threading"] for m in db.session.scalars(select(Message))}
    assert threading["reply-a@example.com"] == "threaded by In-Reply-To"
    assert threading["reply-open-2@example.com"] == "threaded by In-Reply-To"
    assert threading["reply-closed@example.com"].startswith("follow-up of closed")
    assert [t["status"] for t in batched["tickets"]][:4] == ["new", "open", "closed", "new"]
    assert ("email", "gone@example.com", True, "Someone") in batched["identities"]


def test_a_failing_message_does_not_hold_the_batch(app):
    def poison(conn, cursor, statement, parameters, context, executemany):
        # At the driver, so it stops the batch's one INSERT of every message as well as one message's.
        values = str(parameters)
        if statement.startswith("INSERT INTO message ") and "POISON" in values and "raw:" not in values:
            raise RuntimeError("this message cannot be written")

    event.listen(db.engine, "before_cursor_execute", poison)
    try:
        raws = [mail(f"m{n}@example.com", sender=f"c{n}@example.com", subject=f"Question {n}",
                     body="POISON" if n == 2 else "Hello") for n in range(5)]
        counts = intake.process_batch(None, None, [intake.Fetched(uid=None, raw=raw) for raw in raws])
    finally:
        event.remove(db.engine, "before_cursor_execute", poison)
    assert counts == {"imported": 5}
    rows = db.session.scalars(select(InboundEmail).order_by(InboundEmail.id)).all()
    assert [bool(r.error) for r in rows] == [False, False, True, False, False]
    assert [r.status for r in rows] == ["imported"] * 5
    # Each row names the message it became, none one of the rolled-back batch's.
    assert [db.session.get(Message, r.message_id).external_id[:4] for r in rows] == ["m0@e", "m1@e", "raw:", "m3@e",
                                                                                       "m4@e"]
    stored = db.session.scalars(select(Message.external_id).order_by(Message.id)).all()
    assert stored[:2] == ["m0@example.com", "m1@example.com"] and stored[2].startswith("raw:")
    assert db.session.scalar(select(Message).where(Message.external_id == "m4@example.com")).ticket is not None


def test_reading_in_processes_gives_what_reading_inline_gives():
    files = sorted(p for p in corpus("mail-parser").iterdir() if p.name != "LICENSE")[:30]
    raws = [p.read_bytes() for p in files] + BATCH
    with Reader(processes=2, threshold=1) as reader:
        pooled = reader.submit(raws, OWN).result()
        assert not reader.broken
    assert pooled == read_many(raws, OWN)


def test_a_batch_keeps_a_message_whose_attachment_is_too_large(app):
    from email.message import EmailMessage

    app.config["MAX_ATTACHMENT_BYTES"] = 100
    mails = []
    for n in range(3):
        message = EmailMessage()
        message["From"], message["To"] = f"Sender {n} <s{n}@example.com>", "support@helpdesk.test"
        message["Subject"], message["Message-ID"] = f"Files {n}", f"<files-{n}@example.com>"
        message.set_content("See the files.")
        message.add_attachment(b"x" * 500, maintype="application", subtype="octet-stream", filename="big.bin")
        message.add_attachment(b"small", maintype="text", subtype="plain", filename="note.txt")
        mails.append(message.as_bytes())
    counts = intake.process_batch(None, None, [intake.Fetched(uid=None, raw=raw) for raw in mails])
    assert counts == {"imported": 3}
    for message in db.session.scalars(select(Message).order_by(Message.id)):
        assert [a.filename for a in message.attachments] == ["note.txt"]
        assert message.meta["skipped_attachments"] == ["big.bin (500 bytes)"]
        assert message.meta["threading"] == "new ticket" and message.body_text.startswith("See the files.")


def test_reading_processes_run_below_the_importers_priority():
    """They read a batch ahead: the importer, not they, should get a core when both want one."""
    with Reader(processes=1, threshold=1) as reader:
        assert reader._start().submit(os.nice, 0).result() == min(19, os.nice(0) + READER_NICENESS)


KILLED_IMPORTER = """
import json, sys, time
from multiprocessing import forkserver
from helpdesk.channels.email.reading import Reader

reader = Reader(processes=2, threshold=1)
pool = reader._start()
assert [part.result() for part in [pool.submit(sum, [n]) for n in range(4)]] == [0, 1, 2, 3]
print(json.dumps([*pool._processes, forkserver._forkserver._forkserver_pid]), flush=True)
time.sleep(60)
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_reading_processes_end_when_the_importer_is_killed():
    """A SIGKILLed watcher must not leave its forkserver and reading processes behind (one set per kill)."""
    importer = subprocess.Popen([sys.executable, "-c", KILLED_IMPORTER], stdout=subprocess.PIPE, text=True,
                                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        pids = json.loads(importer.stdout.readline())
        assert len(pids) == 3 and all(_running(pid) for pid in pids)
    finally:
        importer.kill()
        importer.wait()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pids if _running(pid)] == []


HOSTILE = (
    "From: Mallory <mallory@example.com>\r\nTo: support@helpdesk.test\r\nSubject: {subject}\r\n"
    "Message-ID: <{message_id}>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    '<p>Hi</p><script>alert(1)</script><img src="https://example.com/x.png" onerror="alert(2)">\r\n'
)


def test_html_is_stored_sanitised_whichever_way_a_message_is_imported(app):
    """Reading sanitises it (in the reading process, for a large batch); nothing downstream cleans it again."""
    raws = [HOSTILE.format(subject=f"Hostile {n}", message_id=f"hostile-{n}@example.com").encode() for n in range(3)]
    assert intake.process_batch(None, None, [intake.Fetched(uid=None, raw=raw) for raw in raws]) == {"imported": 3}
    intake.import_bytes(HOSTILE.format(subject="Alone", message_id="hostile-alone@example.com").encode())
    with Reader(processes=1, threshold=1) as reader:
        pooled = intake.process_batch(None, None, [intake.Fetched(uid=None, raw=HOSTILE.format(
            subject="Pooled", message_id="hostile-pooled@example.com").encode())], reader)
    assert pooled == {"imported": 1}
    stored = db.session.scalars(select(Message.body_html).order_by(Message.id)).all()
    assert len(stored) == 5
    for html in stored:
        assert "<p>Hi</p>" in html and "<script" not in html and "onerror" not in html and "alert" not in html
