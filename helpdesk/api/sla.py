"""GET and POST /api/v1/sla-policies."""

from __future__ import annotations

from flask import g, jsonify, request

from helpdesk.api import bp
from helpdesk.api.schema import ApiError, check_body
from helpdesk.extensions import db
from helpdesk.models import SlaPolicy
from helpdesk.sla import policies

FIELDS = ("name", "match", "first_response_minutes", "next_response_minutes", "resolution_minutes",
          "business_hours", "position", "escalation")


def policy_json(policy: SlaPolicy) -> dict:
    """Return a policy as the API shows it."""
    match = {"priority": policy.match_priority, "channel": policy.match_channel, "vip": policy.match_vip}
    return {
        "id": policy.id,
        "name": policy.name,
        "match": {key: value for key, value in match.items() if value is not None},
        "first_response_minutes": policy.first_response_minutes,
        "next_response_minutes": policy.next_response_minutes,
        "resolution_minutes": policy.resolution_minutes,
        "business_hours": policy.business_hours,
        "position": policy.position,
        "escalation": policy.escalation,
    }


@bp.get("/sla-policies")
def list_policies():
    """List the SLA policies in match order."""
    items = [policy_json(p) for p in policies.ordered()]
    db.session.commit()  # keep the defaults if this was the first look
    return jsonify({"items": items})


@bp.post("/sla-policies")
def create_policy():
    """Add an SLA policy (admins only)."""
    if not g.agent.is_admin:
        raise ApiError(403, "forbidden", "only admins may add SLA policies")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_request", "send a JSON object with Content-Type: application/json")
    body = check_body(body, {name: (lambda v: v) for name in FIELDS}, required=("name",))
    try:
        policy = policies.create_policy(**body)
    except policies.PolicyError as exc:
        db.session.rollback()
        raise ApiError(400, "invalid_value", str(exc)) from None
    db.session.commit()
    return jsonify(policy_json(policy)), 201
