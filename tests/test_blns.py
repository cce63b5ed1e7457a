"""Every Big List of Naughty Strings entry in every contact form field: no 500, and no script for agents."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import Ticket
from tests.conftest import corpus


@pytest.fixture
def config_overrides():
    return {"RATELIMIT_ENABLED": False}


class ScriptFinder(HTMLParser):
    """Collect every event-handler attribute, script element and javascript: URL on a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name.lower() in ("href", "src", "action", "formaction") and value and \
                    value.strip().lower().replace("\t", "").startswith(("javascript:", "data:text/html")):
                self.problems.append(f"<{tag} {name}={value[:40]}>")
        if tag == "script":
            src = dict(attrs).get("src") or ""
            if not src.startswith("/static/"):
                self.problems.append(f"<script src={src[:40]!r}>")
        if tag in ("iframe", "object", "embed", "base", "meta") and tag != "meta":
            self.problems.append(f"<{tag}>")


def scripts_in(page: str) -> list[str]:
    finder = ScriptFinder()
    finder.feed(page)
    return finder.problems


def test_every_naughty_string_in_every_field(client, agent):
    strings = [s for s in json.loads(corpus("naughty-strings", "blns.json").read_text()) if isinstance(s, str)]
    assert len(strings) > 500
    client.post("/console/login", data={"email": agent.email, "password": "correct horse battery"})
    baseline = scripts_in(client.get("/contact").get_data(as_text=True))
    assert baseline == []
    created = 0
    for n, naughty in enumerate(strings):
        data = {"name": naughty, "email": naughty, "subject": naughty, "message": naughty, "category": naughty}
        response = client.post("/contact", data=data)
        assert response.status_code in (302, 400), (n, naughty)
        if response.status_code == 400:
            assert scripts_in(response.get_data(as_text=True)) == [], (n, naughty)
        # the address field: the string as the name, with a valid address
        data = {"name": naughty, "email": f"blns{n}@example.com", "subject": naughty or "empty",
                "message": naughty or "empty", "category": "question"}
        response = client.post("/contact", data=data)
        assert response.status_code in (302, 400), (n, naughty)
        if response.status_code == 302:
            created += 1
    assert created > 400
    for ticket in db.session.scalars(select(Ticket)):
        page = client.get(f"/console/tickets/{ticket.reference}")
        assert page.status_code == 200
        assert scripts_in(page.get_data(as_text=True)) == [], ticket.subject
