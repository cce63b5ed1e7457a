"""GET /api/v1/openapi.json: the OpenAPI 3.1 description of this API (CONTRACT §4).

The document is built once from small helpers so each shape is written in
one place. Request bodies are closed (``additionalProperties: false``)
because the API answers unknown fields with a 400; response objects are
closed too, so the contract tests catch a field added without documenting it.
"""

from __future__ import annotations

from flask import jsonify

from helpdesk.api import bp
from helpdesk.models.message import AUTHOR_TYPES, DELIVERY_STATES
from helpdesk.models.ticket import CHANNELS, PRIORITIES, STATUSES

SLA_TARGETS = ("first_response", "next_response", "resolution")


# -- schema helpers ---------------------------------------------------------


def ref(name: str) -> dict:
    """Return a reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    """Return ``schema`` that also admits null (JSON Schema 2020-12 style)."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    result = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        result["enum"] = [*schema["enum"], None]
    return result


def enum(values, description: str | None = None) -> dict:
    """Return a string schema limited to ``values``."""
    schema = {"type": "string", "enum": list(values)}
    return {**schema, "description": description} if description else schema


def string(description: str | None = None, **keywords) -> dict:
    """Return a string schema with optional keywords (maxLength, format ...)."""
    schema = {"type": "string", **keywords}
    return {**schema, "description": description} if description else schema


def array(items: dict, **keywords) -> dict:
    """Return an array schema of ``items``."""
    return {"type": "array", "items": items, **keywords}


def obj(properties: dict, required=None, closed: bool = True, **keywords) -> dict:
    """Return an object schema; every property is required unless ``required`` says otherwise."""
    schema = {"type": "object", "properties": properties, **keywords}
    names = list(properties) if required is None else list(required)
    if names:
        schema["required"] = names
    if closed:
        schema["additionalProperties"] = False
    return schema


#: ISO 8601 with an explicit offset ("Z" or "+hh:mm"), never a naive time.
TIMESTAMP = string(
    "ISO 8601 date and time with an explicit UTC offset.",
    format="date-time",
    pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
)
EMAIL = string(format="email", maxLength=254)


# -- component schemas ------------------------------------------------------

CUSTOMER = {
    "id": {"type": "integer"},
    "name": string(),
    "email": nullable(string("The first email address, where replies go.", format="email")),
    "phone": nullable(string("The first phone number, in E.164.")),
    "vip": {"type": "boolean"},
}

CUSTOMER_DETAIL = {
    **CUSTOMER,
    "language": string(),
    "account_owner": nullable(string("The email of the agent who owns the account.", format="email")),
    "emails": array(string(format="email")),
    "phones": array(string()),
    "created_at": TIMESTAMP,
}

TICKET = {
    "reference": string("Stable, human-friendly; also used in email subjects.", pattern=r"^[A-Za-z]+-\d+$"),
    "subject": string(),
    "status": enum(STATUSES),
    "priority": enum(PRIORITIES),
    "channel": enum(CHANNELS),
    "customer": ref("Customer"),
    "assignee": nullable(string("The assigned agent's email.", format="email")),
    "team": nullable(string("The team's name.")),
    "tags": array(string(maxLength=50)),
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "first_response_due_at": nullable(TIMESTAMP),
    "first_responded_at": nullable(TIMESTAMP),
    "resolution_due_at": nullable(TIMESTAMP),
    "solved_at": nullable(TIMESTAMP),
    "ack_sent_at": nullable(TIMESTAMP),
    "sla_breaches": array(enum(SLA_TARGETS), uniqueItems=True),
}

MESSAGE = {
    "id": {"type": "integer"},
    "author_type": enum(AUTHOR_TYPES),
    "author_name": string(),
    "channel": enum(CHANNELS),
    "internal": {"type": "boolean", "description": "An internal note: never shown or sent to the customer."},
    "body_text": string(),
    "body_html": nullable(string("Sanitized HTML; null when the source had none.")),
    "created_at": TIMESTAMP,
    "delivery_status": nullable(enum(DELIVERY_STATES, "Outbound delivery; null when not sent anywhere.")),
    "attachments": array(ref("Attachment")),
}

MINUTES = nullable({"type": "number", "minimum": 0.01, "maximum": 525_600,
                    "description": "Target in minutes; null: no target."})
SLA_POLICY = {
    "id": {"type": "integer"},
    "name": string(minLength=1, maxLength=120),
    "match": obj(
        {"priority": nullable(enum(PRIORITIES)), "channel": nullable(enum(CHANNELS)),
         "vip": nullable({"type": "boolean"})},
        required=(), description="What the policy applies to; empty: every ticket (the default policy).",
    ),
    "first_response_minutes": MINUTES,
    "next_response_minutes": MINUTES,
    "resolution_minutes": MINUTES,
    "business_hours": {"type": "boolean", "description": "True: counted in the business calendar."},
    "position": {"type": "integer", "description": "Match order; lower first."},
    "escalation": enum(("none", "raise_priority", "reassign_lead"), "What a breach does besides notifying."),
}

SCHEMAS = {
    "Error": obj({
        "error": obj({
            "code": string("Machine-readable, e.g. unauthorized, unknown_field, invalid_value, not_found."),
            "message": string("A sentence for people."),
        }),
    }),
    "Health": obj({
        "status": enum(("ok", "error")),
        "database": string('"ok" or "error: <reason>".'),
        "redis": string('"ok" or "error: <reason>".'),
    }),
    "Customer": obj(CUSTOMER),
    "CustomerDetail": obj(CUSTOMER_DETAIL),
    "CustomerWithTickets": obj({**CUSTOMER_DETAIL, "tickets": array(ref("Ticket"))}),
    "CustomerList": obj({"items": array(ref("CustomerDetail"), maxItems=1)}),
    "Attachment": obj({
        "filename": string(),
        "content_type": string(),
        "size": {"type": "integer", "minimum": 0},
        "url": string(format="uri"),
    }),
    "Message": obj(MESSAGE),
    "Ticket": obj(TICKET),
    "TicketDetail": obj({**TICKET, "messages": array(ref("Message"), description="Oldest first.")}),
    "TicketList": obj({
        "items": array(ref("Ticket"), description="Newest first."),
        "next_cursor": nullable(string("Pass as `cursor` for the next page; null on the last page.")),
    }),
    "TicketCreate": obj(
        {
            "channel": enum(("phone", "api")),
            "subject": string(minLength=1, maxLength=300),
            "body": string(minLength=1, maxLength=100_000),
            "customer": obj(
                {
                    "email": EMAIL,
                    "phone": string("In any format; stored in E.164.", maxLength=40),
                    "name": string(maxLength=200),
                },
                required=(),
                anyOf=[{"required": ["email"]}, {"required": ["phone"]}],
                description="Found by email (case-insensitive) or phone number, or created.",
            ),
            "priority": {**enum(PRIORITIES), "default": "normal"},
        },
        required=("channel", "subject", "body", "customer"),
    ),
    "TicketUpdate": obj(
        {
            "status": enum(STATUSES),
            "priority": enum(PRIORITIES),
            "assignee": nullable(string("An agent's email; null unassigns.", format="email")),
            "team": nullable(string("A team's name; null removes the team.", maxLength=80)),
            "tags": array(string(maxLength=50), description="Replaces every tag."),
        },
        required=(),
        minProperties=1,
    ),
    "SlaPolicy": obj(SLA_POLICY),
    "SlaPolicyList": obj({"items": array(ref("SlaPolicy"), description="In match order: the first match wins.")}),
    "SlaPolicyCreate": obj(
        {key: value for key, value in SLA_POLICY.items() if key != "id"},
        required=("name",),
    ),
    "MessageCreate": obj(
        {
            "body": string(minLength=1, maxLength=100_000),
            "internal": {"type": "boolean", "default": False, "description": "True for a note only agents see."},
        },
        required=("body",),
    ),
}


# -- responses, parameters and operations -----------------------------------


def json_content(schema: dict) -> dict:
    """Return an ``application/json`` content map for ``schema``."""
    return {"application/json": {"schema": schema}}


ERRORS = {
    "400": ("BadRequest", "The request is malformed: not JSON, an unknown field or parameter, or a bad value."),
    "401": ("Unauthorized", "No bearer token, or one that is unknown or revoked."),
    "403": ("Forbidden", "The caller may not do this (an admin-only operation)."),
    "404": ("NotFound", "No such ticket or customer (or one the caller may not see)."),
    "409": ("Conflict", "The ticket cannot take this change, e.g. it was merged into another."),
}

RESPONSES = {name: {"description": text, "content": json_content(ref("Error"))} for name, text in ERRORS.values()}


def response(description: str, schema: dict) -> dict:
    """Return a JSON response of ``schema``."""
    return {"description": description, "content": json_content(schema)}


def operation(operation_id: str, summary: str, ok: tuple[str, str, dict], errors=(), *, public: bool = False,
              parameters=(), body: str | None = None, also: dict | None = None) -> dict:
    """Return one operation: its success response, its error responses and what it takes."""
    status, description, schema = ok
    op = {
        "operationId": operation_id,
        "summary": summary,
        "responses": {
            status: response(description, schema),
            **{code: {"$ref": f"#/components/responses/{ERRORS[code][0]}"} for code in errors},
            **(also or {}),
        },
    }
    if not public:
        op["responses"]["401"] = {"$ref": "#/components/responses/Unauthorized"}
    else:
        op["security"] = []
    if parameters:
        op["parameters"] = list(parameters)
    if body:
        op["requestBody"] = {"required": True, "content": json_content(ref(body))}
    return op


def query(name: str, schema: dict, description: str) -> dict:
    """Return a query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


REFERENCE = {
    "name": "reference", "in": "path", "required": True,
    "schema": string(pattern=r"^[A-Za-z]+-\d+$"), "description": "The ticket's reference, e.g. HD-1042.",
}
CUSTOMER_ID = {"name": "customer_id", "in": "path", "required": True, "schema": {"type": "integer"}}
UNKNOWN_PARAMETERS = " Unknown query parameters are a 400."

PATHS = {
    "/healthz": {
        "servers": [{"url": "/"}],
        "get": operation("health", "Report whether the database and Redis answer.",
                         ("200", "Every dependency is up.", ref("Health")), public=True,
                         also={"503": response("A dependency is down.", ref("Health"))}),
    },
    "/openapi.json": {
        "get": operation("openapi", "Return this document.",
                         ("200", "The OpenAPI document.", {"type": "object"}), public=True),
    },
    "/tickets": {
        "get": operation(
            "listTickets", "List tickets, newest first, one page at a time." + UNKNOWN_PARAMETERS,
            ("200", "One page of tickets.", ref("TicketList")), ["400"],
            parameters=[
                query("status", enum(STATUSES), "Only tickets in this status."),
                query("channel", enum(CHANNELS), "Only tickets from this channel."),
                query("assignee", string(), '"me", "none" (unassigned) or an agent\'s email.'),
                query("q", string(), "Full text over subjects, messages and customers."),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 25}, "Page size."),
                query("cursor", string(), "The `next_cursor` of the previous page."),
            ],
        ),
        "post": operation(
            "createTicket", "Open a ticket for a customer: a logged phone call or an integration.",
            ("201", "The new ticket.", ref("Ticket")), ["400"], body="TicketCreate",
        ),
    },
    "/tickets/{reference}": {
        "parameters": [REFERENCE],
        "get": operation("getTicket", "Return a ticket with its messages, oldest first.",
                         ("200", "The ticket.", ref("TicketDetail")), ["404"]),
        "patch": operation("updateTicket", "Change a ticket's status, priority, assignee, team or tags.",
                           ("200", "The changed ticket.", ref("Ticket")), ["400", "404", "409"],
                           body="TicketUpdate"),
    },
    "/tickets/{reference}/messages": {
        "parameters": [REFERENCE],
        "post": operation(
            "addMessage",
            "Reply to the customer over the ticket's channel (email by SMTP, chat live), or add an internal note.",
            ("201", "The stored message.", ref("Message")), ["400", "404", "409"], body="MessageCreate",
        ),
    },
    "/customers": {
        "get": operation(
            "findCustomers", "Look a customer up by email or phone (caller id); give exactly one." + UNKNOWN_PARAMETERS,
            ("200", "The customer, if any.", ref("CustomerList")), ["400"],
            parameters=[
                query("email", string(format="email"), "An email address, any case."),
                query("phone", string(), "A phone number in any format."),
            ],
        ),
    },
    "/customers/{customer_id}": {
        "parameters": [CUSTOMER_ID],
        "get": operation("getCustomer", "Return a customer with their tickets from every channel, newest first.",
                         ("200", "The customer.", ref("CustomerWithTickets")), ["404"]),
    },
}

PATHS["/sla-policies"] = {
    "get": operation("listSlaPolicies", "List the SLA policies in match order.",
                     ("200", "The policies.", ref("SlaPolicyList"))),
    "post": operation("createSlaPolicy", "Add an SLA policy (admins only); without a position it goes just "
                      "before the default policy.", ("201", "The new policy.", ref("SlaPolicy")), ["400", "403"],
                      body="SlaPolicyCreate"),
}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Help desk API",
        "version": "1",
        "description": "Errors always answer `{\"error\": {\"code\", \"message\"}}`. Timestamps carry an explicit "
                       "offset. Unknown fields in a request body are a 400, never silently dropped.",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearerAuth": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from `flask --app wsgi tokens create --email E`.",
            },
        },
        "schemas": SCHEMAS,
        "responses": RESPONSES,
    },
}


@bp.get("/openapi.json")
def openapi():
    """Return the OpenAPI document."""
    return jsonify(DOCUMENT)
