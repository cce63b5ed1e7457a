"""Agent replies by email through a real RQ worker to a real SMTP server, and what comes back."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from helpdesk import tickets
from helpdesk.channels.email.ids import make_message_id, parse_own_id
from helpdesk.channels.email.intake import import_bytes
from helpdesk.extensions import db
from helpdesk.models import CustomerIdentity, Message, Ticket
from workers import mail as mail_jobs
from workers.worker import run as run_worker


@pytest.fixture
def config_overrides(smtp_server):
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_server.port}


def agent_replies(smtp, total: int) -> list:
    """Wait for ``total`` messages; return those that are not automatic (acknowledgements)."""
    return [m for m in smtp.wait_for(total) if m["Auto-Submitted"] is None]


def customer_mail(subject="Printer on fire", message_id="<c1@example.com>", extra="", body="Help!") -> bytes:
    return (f"From: Bob <bob@example.com>\r\nTo: support@helpdesk.test\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\n{extra}\r\n{body}\r\n").encode()


def test_reply_goes_out_threaded_and_signed(app, agent, smtp):
    ticket = import_bytes(customer_mail()).message.ticket
    reply = tickets.reply(ticket, agent, "We are on it.\nStand back.")
    db.session.commit()
    run_worker(burst=True)
    [sent] = agent_replies(smtp, 2)  # the acknowledgement, then the reply
    assert sent["To"] == "bob@example.com"
    assert sent["Reply-To"] == "support@helpdesk.test"
    assert f"[{ticket.reference}]" in sent["Subject"] and sent["Subject"].startswith("Re: ")
    own_id = sent["Message-ID"].strip("<>")
    assert parse_own_id(own_id) == reply.id
    assert sent["In-Reply-To"] == "<c1@example.com>"
    assert "<c1@example.com>" in sent["References"]
    assert sent.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == "We are on it.\nStand back."
    assert "<p>We are on it.<br>Stand back.</p>" in sent.get_body(("html",)).get_content()
    db.session.expire_all()
    assert db.session.get(Message, reply.id).delivery_status == "sent"

    # The customer answers from their mail program: threaded by our signed id.
    answer = import_bytes(customer_mail("Re: whatever", "<c2@example.com>", f"In-Reply-To: <{own_id}>\r\n"))
    assert answer.message.ticket_id == ticket.id
    assert answer.message.meta["threading"] == "threaded by our Message-ID in In-Reply-To"


def test_forged_own_id_does_not_thread(app, agent):
    ticket = import_bytes(customer_mail()).message.ticket
    reply = tickets.reply(ticket, agent, "Hello")
    db.session.commit()
    forged = re.sub(r"\.([0-9a-f]{16})@", ".0000000000000000@", make_message_id(reply.id))
    assert parse_own_id(forged) is None
    other = import_bytes(customer_mail("Unrelated", "<x9@example.com>", f"In-Reply-To: <{forged}>\r\n"))
    assert other.message.ticket_id != ticket.id


def test_header_injection_is_impossible(app, agent, smtp):
    ticket = import_bytes(customer_mail(subject="Hi")).message.ticket
    ticket.subject = "Hi\r\nBcc: victim@example.org\r\nX-Evil: 1"
    tickets.reply(ticket, agent, "Hello")
    db.session.commit()
    run_worker(burst=True)
    [sent] = agent_replies(smtp, 2)
    assert sent["Bcc"] is None and sent["X-Evil"] is None
    assert smtp.recipients == [["bob@example.com"], ["bob@example.com"]]


def test_smtp_failure_is_shown_on_the_message(app, agent, smtp):
    ticket = import_bytes(customer_mail()).message.ticket
    reply = tickets.reply(ticket, agent, "Hello")
    db.session.commit()
    smtp.fail_with = "554 5.7.1 rejected for testing"
    with pytest.raises(Exception, match="554"):
        mail_jobs.send_message(reply.id)  # outside a job: this is the last attempt
    db.session.expire_all()
    failed = db.session.get(Message, reply.id)
    assert failed.delivery_status == "failed" and "554" in failed.delivery_error
    smtp.fail_with = None
    assert mail_jobs.send_message(reply.id) == "sent"
    assert mail_jobs.send_message(reply.id) == "nothing to send"  # idempotent
    assert len(smtp.wait_for(1)) == 1


def test_bounce_threads_to_the_ticket_and_marks_the_address(app, agent, smtp):
    ticket = import_bytes(customer_mail()).message.ticket
    reply = tickets.reply(ticket, agent, "Hello")
    db.session.commit()
    run_worker(burst=True)
    own_id = agent_replies(smtp, 2)[0]["Message-ID"]
    bounce = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: support@helpdesk.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce1@mx.example.com>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        "Final-Recipient: rfc822; bob@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--B\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: {own_id}\r\nSubject: Re: Printer\r\n\r\nHello\r\n"
        "--B--\r\n"
    ).encode()
    row = import_bytes(bounce)
    assert row.message.ticket_id == ticket.id
    assert row.message.author_type == "system"
    assert row.message.meta["classification"] == "bounce"
    assert "no acknowledgement" in row.message.meta["auto_reply"]
    identity = db.session.scalar(select(CustomerIdentity).where(CustomerIdentity.value == "bob@example.com"))
    assert identity.undeliverable
    assert db.session.get(Ticket, ticket.id).status == "open"  # a bounce reopens nothing
    assert reply.id
