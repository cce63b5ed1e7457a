"""Console pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, send_file, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from helpdesk import storage
from helpdesk.console import bp
from helpdesk.console.forms import LoginForm
from helpdesk.extensions import db, limiter
from helpdesk.models import Agent, Attachment
from helpdesk.tickets.queries import can_see


def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("console.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def login():
    """Sign an agent in."""
    if current_user.is_authenticated:
        return redirect(url_for("console.index"))
    form = LoginForm()
    if form.validate_on_submit():
        agent = db.session.scalar(select(Agent).where(Agent.email == form.email.data.strip().lower()))
        if agent is None or not agent.active or not agent.check_password(form.password.data):
            form.password.errors.append("That email and password do not match an active agent.")
        else:
            target = _safe_next(request.args.get("next"))
            session.clear()  # a fresh session at sign-in: no fixation
            login_user(agent, remember=form.remember.data)
            return redirect(target)
    return render_template("console/login.html", form=form), 200 if not form.errors else 400


@bp.post("/logout")
@login_required
def logout():
    """Sign the agent out."""
    logout_user()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("console.login"))


@bp.get("/")
@login_required
def index():
    """Show the ticket list (the console's home)."""
    return redirect(url_for("console.tickets"))


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int):
    """Download an attachment (never rendered inline: no sniffing, no script)."""
    item = db.session.get(Attachment, attachment_id)
    if item is None or not can_see(current_user, item.message.ticket):
        abort(404)
    response = send_file(
        storage.path_for(item.sha256),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=item.filename,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
