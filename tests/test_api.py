"""Contract tests for the REST API of CONTRACT §4.

Every request goes through ``Contract``, which checks the answer against the
OpenAPI document the server publishes: the status code must be documented for
that operation and the body must validate against its schema. A successful
request's body must validate against the documented request schema too, so
the document can neither reject what the server takes nor describe what it
does not send.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from redis import Redis
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from rq import Queue
from sqlalchemy import select

from helpdesk import tickets
from helpdesk.api.openapi import DOCUMENT
from helpdesk.extensions import db
from helpdesk.models import ApiToken, Customer, Team, Ticket, TicketEvent
from helpdesk.models.base import utcnow
from tests.support.servers import RedisServer

DOC_URI = "urn:helpdesk:openapi"
REGISTRY = Registry().with_resource(DOC_URI, Resource.from_contents(DOCUMENT, default_specification=DRAFT202012))
DEFAULT = object()


# -- checking answers against the OpenAPI document ----------------------------


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _deref(pointer: str) -> tuple[str, dict]:
    """Return the pointer and node at ``pointer``, following a non-schema $ref."""
    node = DOCUMENT
    for part in pointer.split("/")[1:]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    if "$ref" in node:
        return _deref(node["$ref"].removeprefix("#"))
    return pointer, node


def validator_at(pointer: str) -> Draft202012Validator:
    """Return a validator for the schema at ``pointer`` in the document, with $refs resolved."""
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#{pointer}"}, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def schema_errors(pointer: str, instance) -> list[str]:
    """Return why ``instance`` does not fit the schema at ``pointer`` (empty when it does)."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator_at(pointer).iter_errors(instance)]


def component(name: str) -> str:
    """Return the pointer of a component schema."""
    return _pointer("components", "schemas", name)


def operation_for(method: str, path: str) -> tuple[str, dict]:
    """Return the documented path template and operation that ``method path`` calls."""
    path = urlpath = path.split("?")[0]
    path = path.removeprefix("/api/v1") if path.startswith("/api/v1/") else path
    for template, item in DOCUMENT["paths"].items():
        if re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), path):
            assert method.lower() in item, f"{method} {template} is not documented"
            return template, item[method.lower()]
    raise AssertionError(f"{method} {urlpath} is not documented")


def check_documented(method: str, path: str, response, sent=None) -> None:
    """Assert that ``response`` is one the document describes for ``method path``."""
    template, op = operation_for(method, path)
    status = str(response.status_code)
    assert status in op["responses"], f"{method} {template} answered {status}, undocumented: {response.data[:300]}"
    pointer, _ = _deref(_pointer("paths", template, method.lower(), "responses", status))
    assert response.is_json, f"{method} {path} answered {response.content_type}"
    errors = schema_errors(pointer + _pointer("content", "application/json", "schema"), response.get_json())
    assert not errors, f"{method} {path} {status} does not match the document: {errors}"
    if response.status_code < 300 and sent is not None and "requestBody" in op:
        body_pointer = _pointer("paths", template, method.lower(), "requestBody", "content", "application/json",
                                "schema")
        assert not schema_errors(body_pointer, sent), f"the document rejects a body the server took: {sent}"


class Contract:
    """A test client for the API that checks every answer against the OpenAPI document."""

    def __init__(self, client, token: str | None):
        self.client, self.token = client, token

    def request(self, method: str, path: str, json=None, *, token=DEFAULT, **kw):
        """Send a request (path under /api/v1 unless absolute) and check the answer."""
        token = self.token if token is DEFAULT else token
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("/healthz") else f"/api/v1{path}"
        response = self.client.open(url, method=method, json=json, headers=headers, **kw)
        check_documented(method, url, response, json)
        return response

    def get(self, path, **kw):
        """GET ``path``."""
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        """POST ``json`` to ``path``."""
        return self.request("POST", path, json, **kw)

    def patch(self, path, json=None, **kw):
        """PATCH ``path`` with ``json``."""
        return self.request("PATCH", path, json, **kw)


@pytest.fixture
def as_agent(client, make_token):
    """Return a factory: as_agent(agent) -> a Contract client with a fresh token of theirs."""
    return lambda agent: Contract(client, make_token(agent))


@pytest.fixture
def call(as_agent, agent):
    """Return a Contract client authenticated as ``agent``."""
    return as_agent(agent)


def assert_error(response, status: int, code: str) -> dict:
    """Assert the error status and code; return the error object."""
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
def restricted(make_ticket, make_agent):
    """Return a ticket of the restricted team "Legal" and the team's one member."""
    member = make_agent(email="counsel@helpdesk.test", name="Counsel")
    team = Team(name="Legal", restricted=True, members=[member])
    db.session.add(team)
    ticket = make_ticket(subject="Subpoena", email="lawyer@example.com")
    tickets.set_team(ticket, team)
    db.session.commit()
    return ticket, member


# -- the document itself -----------------------------------------------------


def test_openapi_is_valid_and_served_without_a_token(call):
    response = call.get("/openapi.json", token=None)
    assert response.status_code == 200
    served = response.get_json()
    validate_spec(served)
    assert served == json.loads(json.dumps(DOCUMENT))
    scheme = served["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert served["security"] == [{"bearerAuth": []}]
    assert set(served["components"]["schemas"]) >= {
        "Ticket", "Message", "Attachment", "Customer", "CustomerDetail", "Error", "TicketList"}


def test_openapi_describes_every_api_route(app):
    documented = {
        (method.upper(), ("" if template == "/healthz" else "/api/v1") + template)
        for template, item in DOCUMENT["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "put", "delete")
    }
    served = {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/api/", "/healthz")) and rule.endpoint != "api.unrouted"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert served == documented


@pytest.mark.parametrize("name", ["TicketCreate", "TicketUpdate", "MessageCreate"])
def test_request_schemas_reject_unknown_fields(name):
    good = {
        "TicketCreate": {"channel": "api", "subject": "s", "body": "b", "customer": {"email": "a@example.com"}},
        "TicketUpdate": {"status": "open"},
        "MessageCreate": {"body": "Hello"},
    }[name]
    assert not schema_errors(component(name), good)
    assert schema_errors(component(name), {**good, "colour": "blue"})


def test_schemas_reject_naive_timestamps_and_unknown_enums(call, make_ticket):
    ticket = make_ticket()
    body = call.get(f"/tickets/{ticket.reference}").get_json()
    body.pop("messages")
    assert not schema_errors(component("Ticket"), body)
    assert schema_errors(component("Ticket"), {**body, "created_at": "2025-01-01T10:00:00"})
    assert schema_errors(component("Ticket"), {**body, "status": "reopened"})
    assert schema_errors(component("Ticket"), {**body, "surprise": 1})


# -- authentication ----------------------------------------------------------

ENDPOINTS = [
    ("GET", "/tickets"),
    ("POST", "/tickets"),
    ("GET", "/tickets/{ref}"),
    ("PATCH", "/tickets/{ref}"),
    ("POST", "/tickets/{ref}/messages"),
    ("GET", "/customers?email=someone@example.com"),
    ("GET", "/customers/{customer}"),
    ("GET", "/sla-policies"),
    ("POST", "/sla-policies"),
]


@pytest.fixture
def endpoint_path(make_ticket):
    """Return a function that fills an ENDPOINTS path with a real ticket and customer."""
    ticket = make_ticket()
    return lambda path: path.format(ref=ticket.reference, customer=ticket.customer_id)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer hd_not-a-token", "Basic YWxpY2U6cHc=", "hd_raw-token"])
def test_every_endpoint_refuses_a_missing_or_bad_token(call, endpoint_path, method, path, header):
    headers = {"Authorization": header} if header is not None else {}
    response = call.request(method, endpoint_path(path), {"body": "x"}, token=None, headers=headers)
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_refuses_a_revoked_token(call, agent, endpoint_path, method, path):
    token = db.session.scalar(select(ApiToken).where(ApiToken.agent_id == agent.id))
    assert call.get("/tickets").status_code == 200
    token.revoked_at = utcnow()
    db.session.commit()
    assert_error(call.request(method, endpoint_path(path), {"body": "x"}), 401, "unauthorized")


def test_a_deactivated_agents_token_stops_working(call, agent):
    assert call.get("/tickets").status_code == 200
    agent.active = False
    db.session.commit()
    assert_error(call.get("/tickets"), 401, "unauthorized")


def test_a_token_records_when_it_was_used(call, agent):
    token = db.session.scalar(select(ApiToken).where(ApiToken.agent_id == agent.id))
    assert token.last_used_at is None
    call.get("/tickets")
    db.session.refresh(token)
    assert token.last_used_at is not None


# -- GET /tickets --------------------------------------------------------------


def test_pagination_walks_every_ticket_once_newest_first(call, make_ticket):
    made = [make_ticket(subject=f"Ticket {n}").reference for n in range(30)]
    seen, cursor, pages = [], None, 0
    while True:
        response = call.get("/tickets?limit=7" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200
        page = response.get_json()
        pages += 1
        assert len(page["items"]) == (7 if pages < 5 else 2)
        seen += [t["reference"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "the cursor never ran out"
    assert pages == 5
    assert seen == list(reversed(made))


def test_a_full_last_page_still_ends_with_a_null_cursor(call, make_ticket):
    for _ in range(4):
        make_ticket()
    first = call.get("/tickets?limit=2").get_json()
    second = call.get(f"/tickets?limit=2&cursor={first['next_cursor']}").get_json()
    assert len(second["items"]) == 2 and second["next_cursor"] is None


def test_default_limit_is_25(call, make_ticket):
    for _ in range(26):
        make_ticket()
    page = call.get("/tickets").get_json()
    assert len(page["items"]) == 25 and page["next_cursor"]


def test_filters_by_status_and_channel(call, make_ticket, agent):
    email = make_ticket(subject="By mail")
    phone = make_ticket(subject="By phone", channel="phone")
    solved = make_ticket(subject="Done")
    tickets.set_status(solved, "solved", agent)
    db.session.commit()

    def refs(query):
        return [t["reference"] for t in call.get(f"/tickets?{query}").get_json()["items"]]

    assert refs("status=solved") == [solved.reference]
    assert refs("status=new") == [phone.reference, email.reference]
    assert refs("channel=phone") == [phone.reference]
    assert refs("channel=email&status=new") == [email.reference]
    assert refs("channel=chat") == []


def test_filters_by_assignee(call, make_ticket, agent, make_agent):
    bob = make_agent(email="bob@helpdesk.test", name="Bob")
    mine, bobs, nobodys = make_ticket(), make_ticket(), make_ticket()
    tickets.assign(mine, agent)
    tickets.assign(bobs, bob)
    db.session.commit()

    def refs(query):
        return [t["reference"] for t in call.get(f"/tickets?{query}").get_json()["items"]]

    assert refs("assignee=me") == [mine.reference]
    assert refs("assignee=none") == [nobodys.reference]
    assert refs("assignee=bob@helpdesk.test") == [bobs.reference]
    assert refs("assignee=BOB@helpdesk.test") == [bobs.reference]
    assert_error(call.get("/tickets?assignee=nobody@helpdesk.test"), 400, "invalid_value")


def test_full_text_filter_matches_subject_body_and_customer(call, make_ticket):
    subject = make_ticket(subject="Invoice overcharge", body="see subject")
    body = make_ticket(subject="Question", body="My parrot swallowed the dongle")
    customer = make_ticket(subject="Hello", body="hi", email="zebulon@example.com", name="Zebulon Quark")
    make_ticket(subject="Unrelated", body="nothing here")

    def refs(q):
        return [t["reference"] for t in call.get(f"/tickets?q={q}").get_json()["items"]]

    assert refs("overcharge") == [subject.reference]
    assert refs("parrot") == [body.reference]
    assert refs("zebulon") == [customer.reference]
    assert refs("nonexistentword") == []


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("status=reopened", "invalid_value"),
        ("channel=fax", "invalid_value"),
        ("limit=0", "invalid_value"),
        ("limit=101", "invalid_value"),
        ("limit=-3", "invalid_value"),
        ("limit=ten", "invalid_value"),
        ("cursor=not-a-cursor", "invalid_value"),
        ("cursor=eyJzIjoib2xkZXN0IiwidiI6bnVsbCwiaWQiOjF9", "invalid_value"),  # another sort's cursor
        ("sort=oldest", "unknown_field"),
        ("page=2", "unknown_field"),
    ],
)
def test_list_rejects_bad_query_parameters(call, make_ticket, query, code):
    make_ticket()
    assert_error(call.get(f"/tickets?{query}"), 400, code)


def test_limit_100_is_allowed(call, make_ticket):
    make_ticket()
    assert len(call.get("/tickets?limit=100").get_json()["items"]) == 1


def test_list_hides_restricted_teams_tickets_from_non_members(call, as_agent, admin, make_ticket, restricted):
    ticket, member = restricted
    public = make_ticket(subject="Open to all")
    assert [t["reference"] for t in call.get("/tickets").get_json()["items"]] == [public.reference]
    for who in (admin, member):
        refs = [t["reference"] for t in as_agent(who).get("/tickets").get_json()["items"]]
        assert refs == [public.reference, ticket.reference]


def test_merged_tickets_are_left_out_of_lists(call, make_ticket, agent):
    source, target = make_ticket(), make_ticket()
    tickets.merge(source, target, agent)
    db.session.commit()
    assert [t["reference"] for t in call.get("/tickets").get_json()["items"]] == [target.reference]


# -- POST /tickets -------------------------------------------------------------


def test_create_a_phone_ticket_for_a_new_caller(call, agent):
    response = call.post("/tickets", {
        "channel": "phone",
        "subject": "Caller cannot log in",
        "body": "Customer called: password reset mail never arrives.",
        "customer": {"phone": "(415) 555-0100", "name": "Pat Caller"},
        "priority": "high",
    })
    assert response.status_code == 201
    created = response.get_json()
    assert created["channel"] == "phone"
    assert created["status"] == "new"
    assert created["priority"] == "high"
    assert created["customer"]["phone"] == "+14155550100"
    assert created["customer"]["name"] == "Pat Caller"
    assert created["customer"]["email"] is None
    detail = call.get(f"/tickets/{created['reference']}").get_json()
    assert [(m["author_type"], m["channel"], m["body_text"]) for m in detail["messages"]] == [
        ("customer", "phone", "Customer called: password reset mail never arrives.")
    ]
    ticket = Ticket.by_reference(created["reference"])
    assert ticket.messages[0].meta["logged_by"] == agent.email


def test_create_finds_the_customer_by_email_in_any_case(call, make_ticket):
    existing = make_ticket(email="carol@example.com")
    response = call.post("/tickets", {"channel": "api", "subject": "From the shop", "body": "Order 42 failed",
                                      "customer": {"email": "Carol@EXAMPLE.com"}})
    assert response.status_code == 201
    created = response.get_json()
    assert created["customer"]["id"] == existing.customer_id
    assert created["channel"] == "api"
    assert created["priority"] == "normal"
    assert created["reference"] != existing.reference  # an agent's log never threads into another ticket
    assert db.session.scalar(select(db.func.count()).select_from(Customer)) == 1


def test_create_finds_a_caller_by_phone_in_another_format(call):
    first = call.post("/tickets", {"channel": "phone", "subject": "1", "body": "b",
                                   "customer": {"phone": "+1 415-555-0100"}}).get_json()
    second = call.post("/tickets", {"channel": "phone", "subject": "2", "body": "b",
                                    "customer": {"phone": "415.555.0100"}}).get_json()
    assert second["customer"]["id"] == first["customer"]["id"]
    assert second["customer"]["phone"] == "+14155550100"


def test_create_with_email_and_phone_joins_both_to_one_customer(call, make_ticket):
    existing = make_ticket(email="dave@example.com")
    created = call.post("/tickets", {"channel": "phone", "subject": "Called in", "body": "b",
                                     "customer": {"email": "dave@example.com", "phone": "(415) 555-0199"}}).get_json()
    assert created["customer"]["id"] == existing.customer_id
    found = call.get("/customers?phone=4155550199").get_json()["items"]
    assert [c["id"] for c in found] == [existing.customer_id]
    assert found[0]["emails"] == ["dave@example.com"] and found[0]["phones"] == ["+14155550199"]


def _create_body(**changes):
    body = {"channel": "api", "subject": "Subject", "body": "Body", "customer": {"email": "erin@example.com"}}
    return {k: v for k, v in {**body, **changes}.items() if v is not None}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_create_body(colour="blue"), "unknown_field"),
        (_create_body(customer={"email": "erin@example.com", "vip": True}), "unknown_field"),
        (_create_body(channel="email"), "invalid_value"),
        (_create_body(channel="chat"), "invalid_value"),
        (_create_body(priority="critical"), "invalid_value"),
        (_create_body(customer={"name": "No Way To Reach"}), "invalid_value"),
        (_create_body(customer="erin@example.com"), "invalid_value"),
        (_create_body(customer={"email": "not-an-address"}), "invalid_value"),
        (_create_body(customer={"phone": "12"}), "invalid_value"),
        (_create_body(subject="x" * 301), "invalid_value"),
        (_create_body(subject=42), "invalid_value"),
        (_create_body(subject=""), "missing_field"),
        ({"channel": "api", "subject": "s", "body": "b"}, "missing_field"),
        ({}, "missing_field"),
        ([], "invalid_request"),
        ("just a string", "invalid_request"),
    ],
)
def test_create_rejects_bad_bodies(call, body, code):
    assert_error(call.post("/tickets", body), 400, code)
    assert db.session.scalar(select(db.func.count()).select_from(Ticket)) == 0
    assert db.session.scalar(select(db.func.count()).select_from(Customer)) == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"channel": "api"', "application/json"),
        ("channel=api&subject=s", "application/x-www-form-urlencoded"),
        (json.dumps(_create_body()), "text/plain"),
        ("", "application/json"),
    ],
)
def test_create_rejects_a_body_that_is_not_json(call, data, content_type):
    response = call.request("POST", "/tickets", data=data, content_type=content_type)
    assert_error(response, 400, "invalid_request")


# -- GET /tickets/<reference> ----------------------------------------------------


def test_show_returns_messages_oldest_first_with_offsets(call, make_ticket, agent):
    ticket = make_ticket(subject="Order missing", body="Where is my order?", body_html="<p>Where is <b>it</b>?</p>")
    tickets.add_note(ticket, agent, "Checked the warehouse.")
    tickets.reply(ticket, agent, "It ships today.")
    db.session.commit()
    detail = call.get(f"/tickets/{ticket.reference}").get_json()
    assert detail["reference"] == ticket.reference
    assert detail["subject"] == "Order missing"
    assert [(m["author_type"], m["internal"], m["body_text"]) for m in detail["messages"]] == [
        ("customer", False, "Where is my order?"),
        ("agent", True, "Checked the warehouse."),
        ("agent", False, "It ships today."),
    ]
    ids = [m["id"] for m in detail["messages"]]
    assert ids == sorted(ids)
    assert detail["messages"][0]["body_html"] == "<p>Where is <b>it</b>?</p>"
    assert detail["messages"][0]["author_name"] == ticket.customer.display_name
    assert detail["messages"][2]["author_name"] == agent.name
    for value in (detail["created_at"], detail["updated_at"], detail["first_responded_at"],
                  *(m["created_at"] for m in detail["messages"])):
        assert datetime.fromisoformat(value).utcoffset() is not None, value


def test_show_lists_attachments_with_a_download_url(call, make_ticket):
    ticket = make_ticket(attachments=[tickets.IncomingFile("report.pdf", "application/pdf", b"%PDF-1.4 data")])
    message = call.get(f"/tickets/{ticket.reference}").get_json()["messages"][0]
    [attachment] = message["attachments"]
    assert attachment["filename"] == "report.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(b"%PDF-1.4 data")
    assert attachment["url"].startswith("http") and "/attachments/" in attachment["url"]


@pytest.mark.parametrize("reference", ["HD-999999", "HD-1000", "HD-0", "nonsense", "XX-1001", "1001"])
def test_show_unknown_reference_is_404(call, make_ticket, reference):
    make_ticket()  # HD-1001 exists
    assert_error(call.get(f"/tickets/{reference}"), 404, "not_found")


def test_reference_is_case_insensitive(call, make_ticket):
    ticket = make_ticket()
    assert call.get(f"/tickets/{ticket.reference.lower()}").get_json()["reference"] == ticket.reference


def test_restricted_ticket_is_404_for_non_members_only(call, as_agent, admin, restricted):
    ticket, member = restricted
    assert_error(call.get(f"/tickets/{ticket.reference}"), 404, "not_found")
    assert_error(call.patch(f"/tickets/{ticket.reference}", {"priority": "high"}), 404, "not_found")
    assert_error(call.post(f"/tickets/{ticket.reference}/messages", {"body": "peek"}), 404, "not_found")
    assert ticket.priority == "normal" and len(ticket.messages) == 1
    for who in (admin, member):
        shown = as_agent(who).get(f"/tickets/{ticket.reference}")
        assert shown.status_code == 200 and shown.get_json()["team"] == "Legal"


# -- PATCH /tickets/<reference> ------------------------------------------------------


def test_patch_each_field(call, make_ticket, agent, make_agent):
    bob = make_agent(email="bob@helpdesk.test", name="Bob")
    db.session.add(Team(name="Billing"))
    ticket = make_ticket()
    path = f"/tickets/{ticket.reference}"

    changed = call.patch(path, {"assignee": "Bob@helpdesk.test"}).get_json()
    assert changed["assignee"] == bob.email
    assert changed["status"] == "open"  # assigning a new ticket opens it
    assert call.patch(path, {"assignee": None}).get_json()["assignee"] is None
    assert call.patch(path, {"team": "Billing"}).get_json()["team"] == "Billing"
    assert call.patch(path, {"team": None}).get_json()["team"] is None
    assert call.patch(path, {"priority": "urgent"}).get_json()["priority"] == "urgent"
    assert call.patch(path, {"tags": ["Refund", "VIP Customer", "refund"]}).get_json()["tags"] == [
        "refund", "vip-customer"]
    assert call.patch(path, {"tags": ["billing"]}).get_json()["tags"] == ["billing"]
    assert call.patch(path, {"tags": []}).get_json()["tags"] == []
    solved = call.patch(path, {"status": "solved"}).get_json()
    assert solved["status"] == "solved" and solved["solved_at"] is not None
    reopened = call.patch(path, {"status": "open"}).get_json()
    assert reopened["status"] == "open" and reopened["solved_at"] is None

    both = call.patch(path, {"assignee": agent.email, "priority": "low", "status": "pending"}).get_json()
    assert (both["assignee"], both["priority"], both["status"]) == (agent.email, "low", "pending")
    assert datetime.fromisoformat(both["updated_at"]) >= datetime.fromisoformat(changed["updated_at"])
    db.session.expire_all()
    kinds = [e.kind for e in db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))]
    assert kinds.count("assignee") == 3 and kinds.count("team") == 2 and kinds.count("tags") == 3


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"colour": "blue"}, "unknown_field"),
        ({"status": "open", "reference": "HD-1"}, "unknown_field"),
        ({}, "invalid_request"),
        ({"status": "reopened"}, "invalid_value"),
        ({"priority": "critical"}, "invalid_value"),
        ({"assignee": "nobody@helpdesk.test"}, "invalid_value"),
        ({"assignee": 7}, "invalid_value"),
        ({"team": "No Such Team"}, "invalid_value"),
        ({"tags": "billing"}, "invalid_value"),
        ({"tags": [1, 2]}, "invalid_value"),
        ({"tags": ["x" * 51]}, "invalid_value"),
        (["status", "open"], "invalid_request"),
    ],
)
def test_patch_rejects_bad_bodies(call, make_ticket, body, code):
    ticket = make_ticket()
    assert_error(call.patch(f"/tickets/{ticket.reference}", body), 400, code)
    db.session.expire_all()
    assert ticket.status == "new" and ticket.assignee is None and ticket.tags == []


def test_a_failed_patch_changes_nothing(call, make_ticket, agent):
    ticket = make_ticket()
    response = call.patch(f"/tickets/{ticket.reference}", {"assignee": agent.email, "team": "No Such Team"})
    assert_error(response, 400, "invalid_value")
    shown = call.get(f"/tickets/{ticket.reference}").get_json()
    assert shown["assignee"] is None and shown["status"] == "new"
    db.session.expire_all()
    assert ticket.assignee_id is None


def test_patch_rejects_non_json(call, make_ticket):
    ticket = make_ticket()
    response = call.request("PATCH", f"/tickets/{ticket.reference}", data="status=open",
                            content_type="application/x-www-form-urlencoded")
    assert_error(response, 400, "invalid_request")


def test_patch_unknown_ticket_is_404(call):
    assert_error(call.patch("/tickets/HD-424242", {"status": "open"}), 404, "not_found")


def test_patch_a_merged_ticket_is_409(call, make_ticket, agent):
    source, target = make_ticket(), make_ticket()
    tickets.merge(source, target, agent)
    db.session.commit()
    assert_error(call.patch(f"/tickets/{source.reference}", {"status": "open"}), 409, "conflict")
    db.session.expire_all()
    assert source.status == "closed"


# -- POST /tickets/<reference>/messages ------------------------------------------------


def _mail_jobs(app) -> list:
    return Queue("mail", connection=Redis.from_url(app.config["REDIS_URL"])).get_jobs()


def test_public_reply_on_an_email_ticket_is_queued_for_delivery(app, call, make_ticket, agent):
    ticket = make_ticket()
    response = call.post(f"/tickets/{ticket.reference}/messages", {"body": "We are on it."})
    assert response.status_code == 201
    message = response.get_json()
    assert message["author_type"] == "agent" and message["author_name"] == agent.name
    assert message["internal"] is False
    assert message["channel"] == "email"
    assert message["delivery_status"] == "pending"
    assert message["body_html"] == "<p>We are on it.</p>"
    [job] = _mail_jobs(app)
    assert job.func_name == "workers.mail.send_message" and job.args == (message["id"],)
    shown = call.get(f"/tickets/{ticket.reference}").get_json()
    assert shown["status"] == "open" and shown["first_responded_at"] is not None
    assert shown["messages"][-1]["id"] == message["id"]


def test_internal_note_is_not_delivered(app, call, make_ticket):
    ticket = make_ticket()
    response = call.post(f"/tickets/{ticket.reference}/messages", {"body": "Customer is grumpy.", "internal": True})
    assert response.status_code == 201
    note = response.get_json()
    assert note["internal"] is True and note["delivery_status"] is None
    assert _mail_jobs(app) == []
    shown = call.get(f"/tickets/{ticket.reference}").get_json()
    assert shown["status"] == "new" and shown["first_responded_at"] is None


def test_internal_false_is_a_public_reply(app, call, make_ticket):
    ticket = make_ticket()
    message = call.post(f"/tickets/{ticket.reference}/messages", {"body": "Hi", "internal": False}).get_json()
    assert message["internal"] is False and len(_mail_jobs(app)) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_field"),
        ({"body": ""}, "missing_field"),
        ({"body": "   "}, "invalid_value"),
        ({"body": 12}, "invalid_value"),
        ({"body": "hi", "internal": "yes"}, "invalid_value"),
        ({"body": "hi", "cc": "boss@example.com"}, "unknown_field"),
        ("hi", "invalid_request"),
    ],
)
def test_message_rejects_bad_bodies(app, call, make_ticket, body, code):
    ticket = make_ticket()
    assert_error(call.post(f"/tickets/{ticket.reference}/messages", body), 400, code)
    db.session.expire_all()
    assert len(ticket.messages) == 1 and _mail_jobs(app) == []


def test_message_rejects_non_json(call, make_ticket):
    ticket = make_ticket()
    response = call.request("POST", f"/tickets/{ticket.reference}/messages", data="hello", content_type="text/plain")
    assert_error(response, 400, "invalid_request")


def test_message_to_unknown_ticket_is_404(call):
    assert_error(call.post("/tickets/HD-424242/messages", {"body": "hello"}), 404, "not_found")


def test_reply_to_a_merged_ticket_is_409(app, call, make_ticket, agent):
    source, target = make_ticket(), make_ticket()
    tickets.merge(source, target, agent)
    db.session.commit()
    response = call.post(f"/tickets/{source.reference}/messages", {"body": "hello"})
    assert target.reference in assert_error(response, 409, "conflict")["message"]
    assert _mail_jobs(app) == []
    db.session.expire_all()
    assert target.messages[-1].author_type == "customer"


# -- GET /customers --------------------------------------------------------------


def test_customer_lookup_by_email_and_phone(call, make_ticket):
    ticket = make_ticket(email="frank@example.com", name="Frank")
    call.post("/tickets", {"channel": "phone", "subject": "s", "body": "b",
                           "customer": {"email": "frank@example.com", "phone": "+44 20 7946 0958"}})
    by_email = call.get("/customers?email=FRANK@example.com").get_json()["items"]
    assert [c["id"] for c in by_email] == [ticket.customer_id]
    assert by_email[0]["name"] == "Frank" and by_email[0]["vip"] is False
    by_phone = call.get("/customers?phone=%2B442079460958").get_json()["items"]
    assert [c["id"] for c in by_phone] == [ticket.customer_id]
    assert call.get("/customers?email=nobody@example.com").get_json() == {"items": []}
    assert call.get("/customers?phone=(212) 555-0000").get_json() == {"items": []}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "invalid_request"),
        ("email=", "invalid_request"),
        ("email=a@example.com&phone=4155550100", "invalid_request"),
        ("email=not-an-address", "invalid_value"),
        ("phone=12", "invalid_value"),
        ("name=Frank", "unknown_field"),
        ("email=a@example.com&limit=1", "unknown_field"),
    ],
)
def test_customer_lookup_rejects_bad_queries(call, query, code):
    assert_error(call.get(f"/customers?{query}"), 400, code)


def test_customer_lists_tickets_from_every_channel_newest_first(call, make_ticket, restricted):
    email = make_ticket(email="gina@example.com", name="Gina")
    web = make_ticket(email="GINA@example.com", channel="web")
    phone = call.post("/tickets", {"channel": "phone", "subject": "Called", "body": "b",
                                   "customer": {"email": "gina@example.com", "phone": "4155550123"}}).get_json()
    api = call.post("/tickets", {"channel": "api", "subject": "Shop", "body": "b",
                                 "customer": {"phone": "+1 (415) 555-0123"}}).get_json()
    make_ticket(email="someone-else@example.com")
    response = call.get(f"/customers/{email.customer_id}")
    assert response.status_code == 200
    customer = response.get_json()
    assert customer["id"] == email.customer_id and customer["name"] == "Gina"
    assert customer["email"] == "gina@example.com" and customer["phone"] == "+14155550123"
    assert [(t["reference"], t["channel"]) for t in customer["tickets"]] == [
        (api["reference"], "api"), (phone["reference"], "phone"), (web.reference, "web"), (email.reference, "email")]
    assert datetime.fromisoformat(customer["created_at"]).utcoffset() is not None


def test_customer_hides_restricted_tickets_from_non_members(call, as_agent, admin, restricted):
    ticket, _ = restricted
    assert call.get(f"/customers/{ticket.customer_id}").get_json()["tickets"] == []
    shown = as_agent(admin).get(f"/customers/{ticket.customer_id}").get_json()["tickets"]
    assert [t["reference"] for t in shown] == [ticket.reference]


def test_unknown_customer_is_404(call):
    assert_error(call.get("/customers/424242"), 404, "not_found")


# -- errors outside the routes --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/api/v1/nothing-here", 404, None),
        ("GET", "/api/v1/customers/abc", 404, None),
        ("POST", "/api/v1/tickets/HD-1001/notes", 404, None),
        ("DELETE", "/api/v1/tickets/HD-1001", 405, {"GET", "PATCH"}),
        ("PUT", "/api/v1/tickets", 405, {"GET", "POST"}),
        ("POST", "/api/v1/openapi.json", 405, {"GET"}),
    ],
)
def test_unrouted_api_requests_answer_json_errors(client, agent, make_token, make_ticket, method, path, status, allow):
    make_ticket()
    response = client.open(path, method=method, headers={"Authorization": f"Bearer {make_token(agent)}"})
    assert_error(response, status, "not_found" if status == 404 else "method_not_allowed")
    if allow:
        assert set(response.headers["Allow"].split(", ")) == allow


def test_console_404_stays_a_page(client):
    response = client.get("/console/no-such-page")
    assert response.status_code == 404 and not response.is_json


# -- /healthz --------------------------------------------------------------------


def test_healthz_is_ok_with_a_real_redis(call):
    response = call.get("/healthz", token=None)
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


class TestHealthWhenRedisIsDown:
    """An app whose Redis is a server of its own, which the test stops."""

    @pytest.fixture
    def doomed_redis(self):
        """Start a redis-server this test may stop."""
        server = RedisServer().start()
        yield server
        server.stop()

    @pytest.fixture
    def config_overrides(self, doomed_redis):
        """Point the app at the doomed Redis."""
        return {"REDIS_URL": doomed_redis.url}

    def test_healthz_is_503_when_redis_is_down(self, client, doomed_redis):
        call = Contract(client, None)
        assert call.get("/healthz").status_code == 200
        doomed_redis.stop()
        response = call.get("/healthz")
        assert response.status_code == 503
        report = response.get_json()
        assert report["status"] == "error" and report["database"] == "ok"
        assert report["redis"].startswith("error")
