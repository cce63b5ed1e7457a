"""Admin pages: agents, teams and canned responses."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from helpdesk import accounts
from helpdesk.auth import admin_required
from helpdesk.console import bp
from helpdesk.console.forms import NOBODY, AgentForm, CannedForm, ConfirmForm, TeamForm
from helpdesk.extensions import db
from helpdesk.models import Agent, CannedResponse, Team


def _refuse(form, exc: accounts.AccountError, fallback: str) -> None:
    db.session.rollback()
    field = getattr(form, exc.field or "", None) or getattr(form, fallback)
    field.errors = [*field.errors, str(exc)]


# Agents ---------------------------------------------------------------------------------------------------------


@bp.route("/admin/agents", methods=["GET", "POST"])
@admin_required
def admin_agents():
    """List agents and create one."""
    form = AgentForm()
    if form.validate_on_submit():
        if db.session.scalar(select(Agent).where(Agent.email == form.email.data.strip().lower())):
            form.email.errors = [f"{form.email.data} is already an agent."]
        else:
            try:
                agent = accounts.save_agent(form.email.data, form.name.data, form.password.data or None,
                                            form.role.data)
            except accounts.AccountError as exc:
                _refuse(form, exc, "email")
            else:
                db.session.commit()
                flash(f"{agent.name} can now sign in.")
                return redirect(url_for("console.admin_agents"))
    agents = db.session.scalars(select(Agent).order_by(Agent.active.desc(), Agent.name)).all()
    status = 400 if form.errors else 200
    return render_template("console/admin/agents.html", form=form, agents=agents, confirm=ConfirmForm()), status


@bp.route("/admin/agents/<int:agent_id>", methods=["GET", "POST"])
@admin_required
def admin_agent(agent_id: int):
    """Edit an agent's name, email, role or password."""
    agent = db.get_or_404(Agent, agent_id)
    form = AgentForm(obj=agent)
    if form.validate_on_submit():
        if agent.id == current_user.id and form.role.data != "admin":
            form.role.errors = ["You cannot take away your own admin role."]
        else:
            try:
                accounts.save_agent(form.email.data, form.name.data, form.password.data or None, form.role.data,
                                    agent=agent)
            except accounts.AccountError as exc:
                _refuse(form, exc, "email")
            else:
                db.session.commit()
                flash(f"{agent.name} saved.")
                return redirect(url_for("console.admin_agents"))
    status = 400 if form.errors else 200
    return render_template("console/admin/agent.html", form=form, agent=agent, confirm=ConfirmForm()), status


@bp.post("/admin/agents/<int:agent_id>/active")
@admin_required
def admin_agent_active(agent_id: int):
    """Deactivate or reactivate an agent (never yourself)."""
    agent = db.get_or_404(Agent, agent_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if agent.id == current_user.id:
        flash("You cannot deactivate yourself.", "error")
    else:
        accounts.set_active(agent, not agent.active)
        db.session.commit()
        flash(f"{agent.name} {'reactivated' if agent.active else 'deactivated and signed out'}.")
    return redirect(url_for("console.admin_agents"))


# Teams ----------------------------------------------------------------------------------------------------------


def _team_choices(form: TeamForm) -> list[Agent]:
    agents = db.session.scalars(select(Agent).where(Agent.active).order_by(Agent.name)).all()
    form.members.choices = [(a.id, a.name) for a in agents]
    form.lead.choices = [(NOBODY, "— No lead —")] + [(a.id, a.name) for a in agents]
    return agents


@bp.get("/admin/teams")
@admin_required
def admin_teams():
    """List teams."""
    teams = db.session.scalars(select(Team).order_by(Team.name)).all()
    return render_template("console/admin/teams.html", teams=teams)


@bp.route("/admin/teams/new", methods=["GET", "POST"], defaults={"team_id": None})
@bp.route("/admin/teams/<int:team_id>", methods=["GET", "POST"])
@admin_required
def admin_team(team_id: int | None):
    """Create or edit a team: channels, restriction, members and lead."""
    team = db.get_or_404(Team, team_id) if team_id else None
    form = TeamForm(obj=team)
    agents = _team_choices(form)
    if team is not None and not form.is_submitted():
        form.channels.data = team.channel_list
        form.members.data = [a.id for a in team.members]
        form.lead.data = team.lead_id or NOBODY
    if form.validate_on_submit():
        by_id = {a.id: a for a in agents}
        try:
            team = accounts.save_team(
                form.name.data, form.description.data, form.channels.data, form.restricted.data,
                [by_id[i] for i in form.members.data if i in by_id], by_id.get(form.lead.data), team=team,
            )
        except accounts.AccountError as exc:
            _refuse(form, exc, "name")
        else:
            db.session.commit()
            flash(f"Team {team.name} saved.")
            return redirect(url_for("console.admin_teams"))
    status = 400 if form.errors else 200
    return render_template("console/admin/team.html", form=form, team=team), status


# Canned responses -----------------------------------------------------------------------------------------------


@bp.route("/admin/canned", methods=["GET", "POST"])
@admin_required
def admin_canned():
    """List canned responses and add one."""
    form = CannedForm()
    if form.validate_on_submit():
        if _title_taken(form.title.data):
            form.title.errors = ["There is already a response with that title."]
        else:
            db.session.add(CannedResponse(title=form.title.data.strip(), body=form.body.data.strip()))
            db.session.commit()
            flash("Canned response added.")
            return redirect(url_for("console.admin_canned"))
    rows = db.session.scalars(select(CannedResponse).order_by(CannedResponse.title)).all()
    status = 400 if form.errors else 200
    return render_template("console/admin/canned.html", form=form, rows=rows, confirm=ConfirmForm()), status


def _title_taken(title: str, other_than: int | None = None) -> bool:
    row = db.session.scalar(select(CannedResponse).where(CannedResponse.title == title.strip()))
    return row is not None and row.id != other_than


@bp.route("/admin/canned/<int:canned_id>", methods=["GET", "POST"])
@admin_required
def admin_canned_edit(canned_id: int):
    """Edit a canned response."""
    row = db.get_or_404(CannedResponse, canned_id)
    form = CannedForm(obj=row)
    if form.validate_on_submit():
        if _title_taken(form.title.data, row.id):
            form.title.errors = ["There is already a response with that title."]
        else:
            row.title, row.body = form.title.data.strip(), form.body.data.strip()
            db.session.commit()
            flash("Canned response saved.")
            return redirect(url_for("console.admin_canned"))
    status = 400 if form.errors else 200
    return render_template("console/admin/canned_edit.html", form=form, row=row), status


@bp.post("/admin/canned/<int:canned_id>/delete")
@admin_required
def admin_canned_delete(canned_id: int):
    """Delete a canned response."""
    row = db.get_or_404(CannedResponse, canned_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    db.session.delete(row)
    db.session.commit()
    flash(f"“{row.title}” deleted.")
    return redirect(url_for("console.admin_canned"))
