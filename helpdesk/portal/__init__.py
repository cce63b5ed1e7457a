"""The customer portal: signed-in customers follow, answer and close their requests."""

from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/portal")

from helpdesk.portal import routes  # noqa: E402,F401  (registers the views)


@bp.app_context_processor
def _satisfaction_helpers() -> dict:
    from helpdesk.portal import satisfaction

    return {"satisfaction_of": satisfaction.rating_of, "satisfaction_summary": satisfaction.summary}
