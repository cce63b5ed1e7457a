"""SLA policies: GET and POST /api/v1/sla-policies, checked against the OpenAPI document, and the defaults."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.models import SlaPolicy
from helpdesk.sla import policies
from tests.test_api import Contract, assert_error


@pytest.fixture
def as_admin(client, admin, make_token):
    return Contract(client, make_token(admin))


def test_defaults_in_match_order(client, agent, make_token, app):
    call = Contract(client, make_token(agent))
    items = call.get("/sla-policies").get_json()["items"]
    assert [p["name"] for p in items] == ["Urgent", "Chat", "VIP", "Default"]
    default = items[-1]
    assert default["match"] == {} and default["business_hours"] is True
    # Two business days of the default Mon-Fri 09:00-17:00 calendar.
    assert default["first_response_minutes"] == app.config["ACK_BUSINESS_DAYS"] * 480
    assert items[1]["match"] == {"channel": "chat"} and items[1]["business_hours"] is False
    assert items[1]["first_response_minutes"] < 10  # chat gets minutes, not days
    assert items[2]["match"] == {"vip": True}


def test_admin_adds_a_policy_before_the_default(as_admin, make_ticket):
    response = as_admin.post("/sla-policies", json={
        "name": "Billing web", "match": {"channel": "web", "priority": "high"},
        "first_response_minutes": 30, "resolution_minutes": 240, "business_hours": False,
    })
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["match"] == {"channel": "web", "priority": "high"} and created["next_response_minutes"] is None
    names = [p["name"] for p in as_admin.get("/sla-policies").get_json()["items"]]
    assert names.index("Billing web") == len(names) - 2  # just before the default
    ticket = make_ticket(channel="web", priority="high")
    detail = as_admin.get(f"/tickets/{ticket.reference}").get_json()
    due = detail["first_response_due_at"]
    created_at = detail["created_at"]
    from datetime import datetime

    minutes = (datetime.fromisoformat(due) - datetime.fromisoformat(created_at)).total_seconds() / 60
    assert minutes == pytest.approx(30, abs=0.1)


def test_only_admins_add_policies(client, agent, make_token):
    call = Contract(client, make_token(agent))
    assert_error(call.post("/sla-policies", json={"name": "Mine"}), 403, "forbidden")


@pytest.mark.parametrize("body", [
    {"name": "X", "surprise": 1},
    {"name": ""},
    {"name": "X", "match": {"priority": "whenever"}},
    {"name": "X", "match": {"colour": "red"}},
    {"name": "X", "first_response_minutes": -5},
    {"name": "X", "first_response_minutes": "soon"},
    {"name": "X", "business_hours": "yes"},
    {"name": "X", "escalation": "panic"},
])
def test_bad_policies_are_refused(as_admin, body):
    response = as_admin.post("/sla-policies", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] in ("unknown_field", "invalid_value", "missing_field")


def test_a_new_desks_first_requests_at_once_create_the_default_policies_once(app):
    """Each of a new desk's first transactions found no policy and created the defaults (12 copies in a benchmark)."""
    first_created, names = threading.Event(), []

    def first():
        with app.app_context():
            policies.ensure_defaults()
            first_created.set()
            time.sleep(0.5)  # the second transaction looks meanwhile
            db.session.commit()

    def second():
        first_created.wait(10)
        with app.app_context():
            names.extend(p.name for p in policies.ordered())
            db.session.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert names == ["Urgent", "Chat", "VIP", "Default"]  # it waited for the first's, and made none of its own
    db.session.rollback()
    assert db.session.scalar(select(func.count(SlaPolicy.id))) == 4
