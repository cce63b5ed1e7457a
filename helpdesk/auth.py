"""Who is asking: console sessions (Flask-Login) and API tokens."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import select

from helpdesk.extensions import db, login_manager
from helpdesk.models import Agent, ApiToken
from helpdesk.models.base import utcnow


def init_app(app) -> None:
    """Wire Flask-Login to the agents table."""
    login_manager.login_view = "console.login"
    login_manager.login_message = "Sign in to open the console."
    login_manager.session_protection = "strong"


@login_manager.user_loader
def _load(session_id: str) -> Agent | None:
    agent_id, _, version = session_id.partition(":")
    if not agent_id.isdigit() or not version.isdigit():
        return None
    agent = db.session.get(Agent, int(agent_id))
    if agent is None or not agent.active or agent.session_version != int(version):
        return None
    return agent


def agent_for_token(secret: str | None) -> Agent | None:
    """Return the active agent whose unrevoked token is ``secret``, or None."""
    if not secret:
        return None
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == ApiToken.digest(secret), ApiToken.revoked_at.is_(None))
    )
    if token is None or not token.agent.active:
        return None
    now = utcnow()
    # Record use at most once a minute, so reads do not all become writes.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
        db.session.commit()
    return token.agent


def admin_required(view):
    """Let only signed-in admins through; others get a 403 page."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
