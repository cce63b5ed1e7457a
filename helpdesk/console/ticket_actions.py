"""What agents do from a ticket's page: reply, note, change properties, merge.

Each view parses its form, calls the ticket service, commits and redirects;
a refused change re-renders the page with the reason beside the form.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required

from helpdesk import tickets
from helpdesk.console import bp
from helpdesk.console.tickets import render_ticket, visible_ticket
from helpdesk.extensions import db
from helpdesk.models import Agent, Team, Ticket
from helpdesk.storage import AttachmentTooLarge
from helpdesk.tickets import IncomingFile, TicketError
from helpdesk.tickets.queries import can_see

#: The buttons under the reply box and the status each one sets.
REPLY_THEN = {"": None, "pending": "pending", "solved": "solved"}


def uploaded_files(field: str = "files") -> list[IncomingFile]:
    """Return the files uploaded in ``field`` as the ticket service takes them."""
    return [
        IncomingFile(filename=f.filename, content_type=f.mimetype or "application/octet-stream", data=f.read())
        for f in request.files.getlist(field)
        if f and f.filename
    ]


def _refused(ticket: Ticket, form: str, exc: Exception):
    db.session.rollback()
    return render_ticket(ticket, errors={form: str(exc)}, draft={form: request.form.get("body", "")}, status=400)


def _back(ticket: Ticket):
    return redirect(url_for("console.ticket", reference=ticket.reference))


@bp.post("/tickets/<reference>/reply")
@login_required
def reply(reference: str):
    """Send a public reply, optionally moving the ticket to pending or solved."""
    ticket = visible_ticket(reference)
    then = request.form.get("then", "")
    if then not in REPLY_THEN:
        then = ""
    try:
        tickets.reply(ticket, current_user, request.form.get("body", ""), uploaded_files(), status=REPLY_THEN[then])
    except (TicketError, AttachmentTooLarge) as exc:
        return _refused(ticket, "reply", exc)
    db.session.commit()
    flash(f"Reply sent{' and marked ' + then if then else ''}.")
    return _back(ticket)


@bp.post("/tickets/<reference>/note")
@login_required
def note(reference: str):
    """Add an internal note."""
    ticket = visible_ticket(reference)
    try:
        tickets.add_note(ticket, current_user, request.form.get("body", ""), uploaded_files())
    except (TicketError, AttachmentTooLarge) as exc:
        return _refused(ticket, "note", exc)
    db.session.commit()
    flash("Note added.")
    return _back(ticket)


def _pick(model, raw: str | None):
    """Return the row whose id the select sent, None for "nobody", or raise on an unknown id."""
    if not raw:
        return None
    row = db.session.get(model, int(raw)) if raw.isdigit() else None
    if row is None:
        raise TicketError(f"That {model.__name__.lower()} no longer exists.")
    return row


@bp.post("/tickets/<reference>/update")
@login_required
def update(reference: str):
    """Change any of status, priority, assignee, team and tags."""
    ticket = visible_ticket(reference)
    form = request.form
    try:
        if "assignee" in form:
            tickets.assign(ticket, _pick(Agent, form["assignee"]), current_user)
        if "team" in form:
            tickets.set_team(ticket, _pick(Team, form["team"]), current_user)
        if form.get("priority"):
            tickets.set_priority(ticket, form["priority"], current_user)
        if form.get("status"):
            tickets.set_status(ticket, form["status"], current_user)
        if "tags" in form:
            tickets.set_tags(ticket, form["tags"].split(","), current_user)
    except TicketError as exc:
        return _refused(ticket, "update", exc)
    db.session.commit()
    flash("Ticket updated.")
    return _back(ticket)


@bp.post("/tickets/<reference>/take")
@login_required
def take(reference: str):
    """Assign the ticket to the signed-in agent."""
    ticket = visible_ticket(reference)
    try:
        tickets.assign(ticket, current_user, current_user)
    except TicketError as exc:
        return _refused(ticket, "update", exc)
    db.session.commit()
    flash("Assigned to you.")
    return _back(ticket)


@bp.post("/tickets/<reference>/merge")
@login_required
def merge(reference: str):
    """Merge this ticket into the one whose reference the agent typed."""
    ticket = visible_ticket(reference)
    target_ref = (request.form.get("target") or "").strip()
    target = Ticket.by_reference(target_ref)
    try:
        if target is None or not can_see(current_user, target):
            raise TicketError(f"There is no ticket {target_ref or '(blank)'}.", "target")
        tickets.merge(ticket, target, current_user)
    except TicketError as exc:
        return _refused(ticket, "merge", exc)
    db.session.commit()
    flash(f"{ticket.reference} merged into {target.reference}.")
    return redirect(url_for("console.ticket", reference=target.reference))
