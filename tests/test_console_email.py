"""Email on a ticket's page: decisions, quoted text, the original, images, and delivery with retry."""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import select

from helpdesk import tickets
from helpdesk.accounts import save_team
from helpdesk.channels.email.intake import import_bytes
from helpdesk.extensions import db
from helpdesk.models import Attachment, CustomerIdentity, Message, Ticket
from workers.worker import run as run_worker

PASSWORD = "correct horse battery"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5E"
                       "rkJggg==")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.fixture
def config_overrides(smtp_server):
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_server.port}


@pytest.fixture
def signed_in(client, agent):
    assert client.post("/console/login", data={"email": agent.email, "password": PASSWORD}).status_code == 302
    return client


def mail(subject="Printer on fire", message_id="<c1@example.com>", headers="", body="Help!\r\n") -> bytes:
    return (f"From: Bob <bob@example.com>\r\nTo: support@helpdesk.test\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\n{headers}\r\n{body}").encode()


def html_mail(html: str, parts: list[tuple[str, str, bytes]] = ()) -> bytes:
    """Return a multipart/related email: ``html`` plus inline parts (content type, Content-ID, bytes)."""
    boundary = "b0undary"
    chunks = [f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"]
    for ctype, cid, data in parts:
        chunks.append(f"--{boundary}\r\nContent-Type: {ctype}\r\nContent-ID: <{cid}>\r\n"
                      f"Content-Transfer-Encoding: base64\r\nContent-Disposition: inline\r\n\r\n"
                      f"{base64.b64encode(data).decode()}\r\n")
    body = "".join(chunks) + f"--{boundary}--\r\n"
    return mail(subject="Pictures", message_id="<pics@example.com>",
                headers=f"MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"{boundary}\"\r\n",
                body=body)


def _message_block(page: str, message_id: int) -> str:
    return re.search(rf'<li class="message[^"]*" id="message-{message_id}">.*?</li>\s*(?=<li class="message|</ol>)',
                     page, re.S)[0]


# Decisions, quoted text, the original ------------------------------------------------------------------------


def test_decisions_and_quoted_text_under_the_message(signed_in):
    first = import_bytes(mail()).message
    quoted = "Still broken.\r\n\r\nOn Mon, 1 Jan 2026, Support wrote:\r\n> Have you tried turning it off?\r\n"
    reply = import_bytes(mail("Re: Printer on fire", "<c2@example.com>", "In-Reply-To: <c1@example.com>\r\n",
                              quoted)).message
    auto = import_bytes(mail("Weekly digest", "<c3@example.com>", "Precedence: bulk\r\n", "News.\r\n")).message
    page = signed_in.get(f"/console/tickets/{first.ticket.reference}").get_data(as_text=True)
    block = _message_block(page, first.id)
    assert "<dt>threading</dt><dd>new ticket</dd>" in block and "<dt>classified</dt><dd>human" in block

    page = signed_in.get(f"/console/tickets/{reply.ticket.reference}").get_data(as_text=True)
    block = _message_block(page, reply.id)
    assert re.search(r'<details class="quoted"><summary>Show quoted text</summary><pre class="pre">[^<]*'
                     r"Have you tried turning it off\?", block)
    assert "Have you tried" not in block.split('<details class="quoted">')[0]  # folded away, not in the body

    page = signed_in.get(f"/console/tickets/{auto.ticket.reference}").get_data(as_text=True)
    block = _message_block(page, auto.id)
    assert re.search(r"<dt>auto-reply</dt><dd>auto reply: [^<]*Precedence: bulk[^<]*no acknowledgement</dd>", block)


def test_view_original_serves_the_exact_bytes_to_agents_who_may_see_it(signed_in, make_agent):
    raw = mail(body="Caf\xe9 au lait\r\n").replace("Caf\xe9".encode(), b"Caf\xe9")  # a raw 8-bit byte
    message = import_bytes(raw).message
    page = signed_in.get(f"/console/tickets/{message.ticket.reference}").get_data(as_text=True)
    assert f'href="/console/messages/{message.id}/raw"' in page and "View original" in page
    response = signed_in.get(f"/console/messages/{message.id}/raw")
    assert response.status_code == 200 and response.data == raw
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]

    insider = make_agent(name="Insider")
    tickets.set_team(message.ticket, save_team("Security", restricted=True, members=[insider]))
    db.session.commit()
    assert signed_in.get(f"/console/messages/{message.id}/raw").status_code == 404
    agent_reply = tickets.reply(message.ticket, insider, "On it.")
    db.session.commit()
    assert signed_in.get(f"/console/messages/{agent_reply.id}/raw").status_code == 404


# Images ------------------------------------------------------------------------------------------------------


def test_remote_images_wait_until_asked(signed_in):
    html = '<p>Look</p><img src="https://tracker.example/pixel.png?u=1&amp;v=2" alt="pixel">'
    message = import_bytes(html_mail(html)).message
    url = f"/console/tickets/{message.ticket.reference}"
    response = signed_in.get(url)
    block = _message_block(response.get_data(as_text=True), message.id)
    assert ' src="https://tracker.example' not in block
    assert 'data-remote-src="https://tracker.example/pixel.png?u=1&amp;v=2"' in block
    assert "Load remote images" in block and f'href="{url}?images=1#message-{message.id}"' in block
    assert "img-src 'self' data:;" in response.headers["Content-Security-Policy"]

    response = signed_in.get(f"{url}?images=1")
    block = _message_block(response.get_data(as_text=True), message.id)
    assert ' src="https://tracker.example/pixel.png?u=1&amp;v=2"' in block and "data-remote-src" not in block
    assert "img-src 'self' data: https: http:;" in response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]


def test_cid_images_point_to_the_inline_route_which_serves_only_images(signed_in):
    html = '<p>Logo</p><img src="cid:logo@example.com" alt="logo"><img src="cid:evil@example.com" alt="svg">'
    message = import_bytes(html_mail(html, [("image/png", "logo@example.com", PNG),
                                            ("image/svg+xml", "evil@example.com", SVG)])).message
    png = db.session.scalar(select(Attachment).where(Attachment.message_id == message.id,
                                                     Attachment.content_type == "image/png"))
    svg = db.session.scalar(select(Attachment).where(Attachment.message_id == message.id,
                                                     Attachment.content_type == "image/svg+xml"))
    page = signed_in.get(f"/console/tickets/{message.ticket.reference}").get_data(as_text=True)
    block = _message_block(page, message.id)
    assert f'<img src="/console/attachments/{png.id}/inline" alt="logo">' in block
    assert 'data-missing-cid="cid:evil@example.com"' in block and f"/attachments/{svg.id}/inline" not in block

    response = signed_in.get(f"/console/attachments/{png.id}/inline")
    assert response.status_code == 200 and response.data == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert signed_in.get(f"/console/attachments/{svg.id}/inline").status_code == 404

    html_file = Attachment(message_id=message.id, filename="x.html", content_type="text/html", size=5,
                           sha256=png.sha256)
    db.session.add(html_file)
    db.session.commit()
    assert signed_in.get(f"/console/attachments/{html_file.id}/inline").status_code == 404


# Delivery ----------------------------------------------------------------------------------------------------


def _delivery(client, ticket: Ticket, message_id: int) -> str:
    block = _message_block(client.get(f"/console/tickets/{ticket.reference}").get_data(as_text=True), message_id)
    return re.search(r'<span class="delivery delivery-(\w+)" data-delivery>([^<]*)</span>', block).groups()


def test_failed_reply_is_retried_by_a_real_worker(signed_in, agent, smtp):
    ticket = import_bytes(mail()).message.ticket
    db.session.execute(CustomerIdentity.__table__.update().values(undeliverable=True))
    reply = tickets.reply(ticket, agent, "Try the blue button.")
    db.session.commit()
    assert _delivery(signed_in, ticket, reply.id) == ("pending", "Sending…")
    run_worker(burst=True)
    db.session.expire_all()
    state, text = _delivery(signed_in, ticket, reply.id)
    assert state == "failed" and text.startswith("Failed: ") and "no deliverable email address" in text
    page = signed_in.get(f"/console/tickets/{ticket.reference}").get_data(as_text=True)
    assert f'action="/console/messages/{reply.id}/retry"' in page

    db.session.execute(CustomerIdentity.__table__.update().values(undeliverable=False))  # the address works again
    db.session.commit()
    response = signed_in.post(f"/console/messages/{reply.id}/retry")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#message-{reply.id}")
    db.session.expire_all()
    assert db.session.get(Message, reply.id).delivery_status == "pending"
    run_worker(burst=True)
    db.session.expire_all()
    assert db.session.get(Message, reply.id).delivery_status == "sent"
    assert _delivery(signed_in, ticket, reply.id) == ("sent", "Sent")
    [sent] = smtp.wait_for(1)  # the acknowledgement was skipped while the address bounced
    assert sent["Subject"].startswith("Re: Printer on fire")

    again = signed_in.post(f"/console/messages/{reply.id}/retry")  # nothing failed now: refused, page kept
    assert again.status_code == 400 and "Only a message whose delivery failed" in again.get_data(as_text=True)


def test_failed_acknowledgement_is_retried_as_the_acknowledgement(signed_in, smtp):
    from helpdesk.sla import acknowledgement

    ticket = import_bytes(mail()).message.ticket
    smtp.fail_with = "554 5.7.1 no thanks"
    with pytest.raises(Exception, match="554"):
        acknowledgement.send(ticket.id)
    ack = db.session.scalar(select(Message).where(Message.ticket_id == ticket.id,
                                                  Message.client_id == acknowledgement.CLIENT_ID))
    ack.delivery_status = "failed"  # what the last of its retries leaves
    ticket.ack_status = "skipped"
    db.session.commit()
    assert _delivery(signed_in, ticket, ack.id)[0] == "failed"

    smtp.fail_with = None
    assert signed_in.post(f"/console/messages/{ack.id}/retry").status_code == 302
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).ack_status == "pending"
    run_worker(burst=True)
    db.session.expire_all()
    assert db.session.get(Message, ack.id).delivery_status == "sent"
    assert db.session.get(Ticket, ticket.id).ack_status == "sent"
    assert [m for m in smtp.wait_for(1) if m["Auto-Submitted"] == "auto-replied"]
