"""GET /healthz: is the database reachable, is Redis?"""

from flask import Blueprint, jsonify
from sqlalchemy import text

from helpdesk.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Report the database and Redis; 503 when either is down."""
    from workers.queues import redis_connection

    report = {"status": "ok", "database": "ok", "redis": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:
        db.session.rollback()
        report["database"] = f"error: {type(exc).__name__}"
    try:
        redis_connection().ping()
    except Exception as exc:
        report["redis"] = f"error: {type(exc).__name__}"
    healthy = report["database"] == "ok" and report["redis"] == "ok"
    report["status"] = "ok" if healthy else "error"
    return jsonify(report), 200 if healthy else 503
