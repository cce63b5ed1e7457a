"""The knowledge base: public pages under /kb, the agents' editor under /console/kb."""

from flask import Blueprint

from helpdesk.models import kb as _models  # noqa: F401  (puts the tables in the metadata)

bp = Blueprint("kb", __name__, url_prefix="/kb")
console_bp = Blueprint("kb_console", __name__, url_prefix="/console/kb")

from helpdesk.kb import console, console_categories, routes  # noqa: E402,F401


def init_app(app) -> None:
    """Register the public and console blueprints."""
    app.register_blueprint(bp)
    app.register_blueprint(console_bp)
