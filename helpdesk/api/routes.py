"""The ticket and customer endpoints of CONTRACT §4."""

from __future__ import annotations

from flask import g, jsonify, request
from sqlalchemy import select

from helpdesk import tickets
from helpdesk.api import bp
from helpdesk.api.schema import (
    ApiError,
    boolean,
    check_body,
    customer_detail_json,
    message_json,
    one_of,
    string_list,
    text,
    ticket_json,
)
from helpdesk.extensions import db
from helpdesk.models import Agent, Customer, Team, Ticket
from helpdesk.models.ticket import CHANNELS, PRIORITIES, STATUSES
from helpdesk.tickets.queries import BadCursor, TicketFilter, can_see, list_tickets


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_request", "send a JSON object with Content-Type: application/json")
    return body


def _ticket(reference: str) -> Ticket:
    ticket = Ticket.by_reference(reference)
    if ticket is None or not can_see(g.agent, ticket):
        raise ApiError(404, "not_found", f"no ticket {reference}")
    return ticket


def _agent_by_email(email: str, field: str) -> Agent:
    agent = db.session.scalar(select(Agent).where(Agent.email == email.strip().lower()))
    if agent is None:
        raise ApiError(400, "invalid_value", f"{field}: no agent {email}")
    return agent


def _query_args(allowed: set[str]) -> dict:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown query parameter(s): {', '.join(unknown)}")
    return request.args


@bp.get("/tickets")
def list_():
    """List tickets, newest first, one page at a time."""
    args = _query_args({"status", "channel", "assignee", "q", "limit", "cursor"})
    f = TicketFilter(query=args.get("q") or None)
    for name, choices in (("status", STATUSES), ("channel", CHANNELS)):
        if args.get(name) and args[name] not in choices:
            raise ApiError(400, "invalid_value", f"{name}: must be one of {', '.join(choices)}")
    f.status, f.channel = args.get("status") or None, args.get("channel") or None
    assignee = args.get("assignee")
    if assignee == "me":
        f.assignee = g.agent
    elif assignee == "none":
        f.unassigned = True
    elif assignee:
        f.assignee = _agent_by_email(assignee, "assignee")
    try:
        limit = int(args.get("limit", 25))
    except ValueError:
        raise ApiError(400, "invalid_value", "limit: must be a whole number") from None
    if not 1 <= limit <= 100:
        raise ApiError(400, "invalid_value", "limit: must be between 1 and 100")
    try:
        items, next_cursor = list_tickets(g.agent, f, "newest", args.get("cursor"), limit)
    except BadCursor as exc:
        raise ApiError(400, "invalid_value", f"cursor: {exc}") from None
    return jsonify({"items": [ticket_json(t) for t in items], "next_cursor": next_cursor})


def _customer_body(value):
    if not isinstance(value, dict):
        raise ValueError("must be an object with email, phone and/or name")
    checked = check_body(value, {"email": text(254), "phone": text(40), "name": text(200)})
    if not checked.get("email") and not checked.get("phone"):
        raise ValueError("give an email or a phone number")
    return checked


@bp.post("/tickets")
def create():
    """Open a ticket for a customer (a logged call or an integration)."""
    body = check_body(
        _json_body(),
        {
            "channel": one_of("phone", "api"),
            "subject": text(300),
            "body": text(100_000),
            "customer": _customer_body,
            "priority": one_of(*PRIORITIES),
        },
        required=("channel", "subject", "body", "customer"),
    )
    contact = tickets.Contact(**body["customer"])
    try:
        received = tickets.receive(
            tickets.Inbound(
                channel=body["channel"],
                contact=contact,
                subject=body["subject"],
                body_text=body["body"],
                priority=body.get("priority", "normal"),
                thread=False,
                meta={"logged_by": g.agent.email},
            ),
            actor=g.agent,
        )
    except tickets.InvalidIdentity as exc:
        raise ApiError(400, "invalid_value", f"customer: {exc}") from None
    db.session.commit()
    return jsonify(ticket_json(received.ticket)), 201


@bp.get("/tickets/<reference>")
def show(reference: str):
    """Return a ticket with its messages, oldest first."""
    ticket = _ticket(reference)
    return jsonify({**ticket_json(ticket), "messages": [message_json(m) for m in ticket.messages]})


@bp.patch("/tickets/<reference>")
def update(reference: str):
    """Change a ticket's status, priority, assignee, team or tags."""
    ticket = _ticket(reference)
    body = check_body(
        _json_body(),
        {
            "status": one_of(*STATUSES),
            "priority": one_of(*PRIORITIES),
            "assignee": text(254, nullable=True),
            "team": text(80, nullable=True),
            "tags": string_list,
        },
    )
    if not body:
        raise ApiError(400, "invalid_request", "give at least one of status, priority, assignee, team, tags")
    try:
        if "assignee" in body:
            agent = _agent_by_email(body["assignee"], "assignee") if body["assignee"] else None
            tickets.assign(ticket, agent, g.agent)
        if "team" in body:
            team = None
            if body["team"]:
                team = db.session.scalar(select(Team).where(Team.name == body["team"]))
                if team is None:
                    raise ApiError(400, "invalid_value", f"team: no team {body['team']!r}")
            tickets.set_team(ticket, team, g.agent)
        if "priority" in body:
            tickets.set_priority(ticket, body["priority"], g.agent)
        if "tags" in body:
            tickets.set_tags(ticket, body["tags"], g.agent)
        if "status" in body:
            tickets.set_status(ticket, body["status"], g.agent)
    except tickets.TicketError as exc:
        db.session.rollback()
        raise ApiError(409, "conflict", str(exc)) from None
    db.session.commit()
    return jsonify(ticket_json(ticket))


@bp.post("/tickets/<reference>/messages")
def add_message(reference: str):
    """Reply to the customer, or add an internal note."""
    ticket = _ticket(reference)
    body = check_body(_json_body(), {"body": text(100_000), "internal": boolean}, required=("body",))
    try:
        if body.get("internal"):
            message = tickets.add_note(ticket, g.agent, body["body"])
        else:
            message = tickets.reply(ticket, g.agent, body["body"])
    except tickets.TicketError as exc:
        if ticket.merged_into_id:
            raise ApiError(409, "conflict", str(exc)) from None
        raise ApiError(400, "invalid_value", str(exc)) from None
    db.session.commit()
    return jsonify(message_json(message)), 201


@bp.get("/customers")
def find_customers():
    """Look a customer up by email or phone number (caller id)."""
    args = _query_args({"email", "phone"})
    if bool(args.get("email")) == bool(args.get("phone")):
        raise ApiError(400, "invalid_request", "give exactly one of email or phone")
    kind = "email" if args.get("email") else "phone"
    try:
        customer = tickets.find_customer(kind, args[kind])
    except tickets.InvalidIdentity as exc:
        raise ApiError(400, "invalid_value", f"{kind}: {exc}") from None
    return jsonify({"items": [customer_detail_json(customer)] if customer else []})


@bp.get("/customers/<int:customer_id>")
def show_customer(customer_id: int):
    """Return a customer with their tickets from every channel, newest first."""
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise ApiError(404, "not_found", f"no customer {customer_id}")
    items, _ = list_tickets(g.agent, TicketFilter(customer_id=customer.id), "newest", None, 100)
    return jsonify({**customer_detail_json(customer), "tickets": [ticket_json(t) for t in items]})
