"""The contact form: fields, errors beside their field, honeypot, rate limits, the ticket it opens."""

from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.models import Attachment, Ticket
from helpdesk.models.selfservice import Deflection
from helpdesk.sla.acknowledgement import format_due

VALID = {"name": "Maria Lopez", "email": "maria@example.com", "category": "problem",
         "subject": "Cannot export invoices", "message": "The export button does nothing."}


def post(client, ip: str = "10.0.0.1", **changes):
    data = {**VALID, **changes}
    return client.post("/contact", data=data, environ_base={"REMOTE_ADDR": ip}, content_type="multipart/form-data")


def tickets_count() -> int:
    return db.session.scalar(select(func.count(Ticket.id)))


def test_form_has_the_four_labelled_fields_and_a_category(client):
    page = client.get("/contact").get_data(as_text=True)
    for field, label in (("name", "Name"), ("email", "Email"), ("subject", "Subject"), ("message", "Message")):
        assert f'<label for="{field}">{label}</label>' in page
    for category in ("question", "problem", "complaint", "feedback", "order"):
        assert f'value="{category}"' in page
    assert 'type="file"' in page and "multiple" in page
    assert 'class="hp"' in page and "style=" not in page


def test_errors_sit_beside_their_field_and_keep_what_was_typed(client):
    response = post(client, name="", email="not-an-address", subject="Kept subject <b>", message="")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    for field in ("name", "email", "message"):
        block = re.search(rf'<div class="field field-error">\s*<label for="{field}">.*?</div>', page, re.S)
        assert block and 'class="error"' in block[0], field
        assert f'aria-describedby="{field}-error"' in block[0]
    subject_block = re.search(r'<div class="field">\s*<label for="subject">.*?</div>', page, re.S)[0]
    assert "class=\"error\"" not in subject_block
    assert 'value="Kept subject &lt;b&gt;"' in page
    assert 'value="not-an-address"' in page
    assert 'option selected value="problem"' in page
    assert tickets_count() == 0


def test_submission_opens_a_web_ticket_with_the_category_tag_and_the_attachment(client):
    files = [(io.BytesIO(b"%PDF-1.4 invoice"), "invoice.pdf"), (io.BytesIO(b"more"), "notes.txt")]
    response = client.post("/contact", data={**VALID, "attachments": files}, content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"].endswith("/contact/thanks")
    ticket = db.session.scalar(select(Ticket))
    assert ticket.channel == "web" and ticket.subject == VALID["subject"]
    assert [t.name for t in ticket.tags] == ["problem"]
    assert ticket.customer.email == "maria@example.com" and ticket.customer.name == "Maria Lopez"
    [message] = ticket.messages
    assert message.body_text == VALID["message"] and message.meta["category"] == "problem"
    assert sorted(a.filename for a in message.attachments) == ["invoice.pdf", "notes.txt"]
    assert ticket.ack_status == "pending"  # the acknowledgement job follows the commit

    page = client.get("/contact/thanks").get_data(as_text=True)
    assert f'<strong class="ref" id="reference">{ticket.reference}</strong>' in page
    assert f'<strong id="promised">{format_due(ticket)}</strong>' in page
    assert 'href="/portal/"' in page


def test_too_large_attachment_is_refused_beside_its_field(app, client):
    app.config["MAX_ATTACHMENT_BYTES"] = 10
    response = client.post("/contact", data={**VALID, "attachments": [(io.BytesIO(b"x" * 11), "big.bin")]},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    block = re.search(r'<div class="field field-error">\s*<label for="attachments">.*?</div>', page, re.S)[0]
    assert "big.bin is larger than" in block
    assert tickets_count() == 0 and db.session.scalar(select(func.count(Attachment.id))) == 0


def test_filled_honeypot_pretends_success_and_creates_nothing(client):
    response = post(client, website="http://spam.example")
    assert response.status_code == 302
    page = client.get("/contact/thanks").get_data(as_text=True)
    assert "we received your request" in page and 'id="reference"' not in page
    assert tickets_count() == 0


def test_rate_limit_per_ip(client):
    for n in range(5):
        assert post(client, ip="10.1.1.1", email=f"p{n}@example.com").status_code == 302
    blocked = post(client, ip="10.1.1.1", email="other@example.com")
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)
    assert post(client, ip="10.1.1.2", email="other@example.com").status_code == 302  # another address passes
    assert tickets_count() == 6


def test_rate_limit_per_address_across_ips(client):
    for n in range(10):
        assert post(client, ip=f"10.2.0.{n}", email="Same@Example.com").status_code == 302
    assert post(client, ip="10.2.1.1", email="same@example.com").status_code == 429
    assert post(client, ip="10.2.1.1", email="new@example.com").status_code == 302


def test_csrf_is_required_when_enabled(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    assert post(client).status_code == 400
    assert tickets_count() == 0
    page = client.get("/contact").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    assert post(client, csrf_token=token).status_code == 302
    assert tickets_count() == 1


def test_deflection_beacon_is_recorded(client):
    assert client.post("/contact/deflected", data={"article_id": "42", "query": "export invoices"}).status_code == 204
    assert client.post("/contact/deflected", data={"article_id": "nope", "query": "x"}).status_code == 204
    rows = db.session.scalars(select(Deflection).order_by(Deflection.id)).all()
    assert [(r.article_id, r.query) for r in rows] == [(42, "export invoices"), (None, "x")]


def test_help_centre_links_everything(client):
    page = client.get("/").get_data(as_text=True)
    assert 'action="/kb"' in page and 'href="/contact"' in page and 'href="/portal/"' in page
