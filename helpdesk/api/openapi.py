"""GET /api/v1/openapi.json: the OpenAPI 3 description of this API."""

from flask import jsonify

from helpdesk.api import bp


@bp.get("/openapi.json")
def openapi():
    """Return the OpenAPI document."""
    return jsonify({"openapi": "3.1.0", "info": {"title": "Help desk API", "version": "1"}, "paths": {}})
