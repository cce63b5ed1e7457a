"""Log a phone call: find the caller by number however it is written, then open a phone ticket."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from helpdesk import tickets
from helpdesk.console import bp
from helpdesk.console.customers import customer_tickets
from helpdesk.console.forms import CallForm
from helpdesk.extensions import db
from helpdesk.models import Customer
from helpdesk.tickets import Contact, Inbound, InvalidIdentity
from helpdesk.tickets.identities import normalize_phone


def lookup_caller(raw: str) -> tuple[str | None, Customer | None, str | None]:
    """Return (E.164 number, known customer or None, error message or None) for a typed number."""
    if not (raw or "").strip():
        return None, None, None
    try:
        number = normalize_phone(raw)
    except InvalidIdentity as exc:
        return None, None, str(exc)
    return number, tickets.find_customer("phone", number), None


def _caller_context(raw: str) -> dict:
    number, customer, error = lookup_caller(raw)
    return {
        "number": number,
        "caller": customer,
        "lookup_error": error,
        "caller_tickets": customer_tickets(customer, limit=20) if customer else [],
    }


@bp.get("/calls/lookup")
@login_required
def call_lookup():
    """Return the caller panel for ``?phone=`` (fetched as the agent types)."""
    return render_template("console/_caller.html", **_caller_context(request.args.get("phone", "")))


@bp.route("/calls/new", methods=["GET", "POST"])
@login_required
def new_call():
    """Show the call form; on submit, open a ticket on the phone channel for the caller."""
    form = CallForm()
    if request.method == "GET" and request.args.get("phone"):
        form.phone.data = request.args["phone"]
    context = _caller_context(form.phone.data or "")
    if request.method == "POST" and request.form.get("action") == "lookup":
        _flag(form, context["lookup_error"])
        return render_template("console/call.html", form=form, **context)
    if form.validate_on_submit() and not context["lookup_error"]:
        inbound = Inbound(
            channel="phone",
            contact=Contact(phone=context["number"], name=form.name.data or None, email=form.email.data or None),
            subject=form.subject.data,
            body_text=form.notes.data,
            thread=False,
            meta={"logged_by": current_user.email},
        )
        try:
            received = tickets.receive(inbound, actor=current_user)
        except InvalidIdentity as exc:
            db.session.rollback()
            form.email.errors = [str(exc)]
        else:
            db.session.commit()
            flash(f"Call logged as {received.ticket.reference}.")
            return redirect(url_for("console.ticket", reference=received.ticket.reference))
    _flag(form, context["lookup_error"])
    status = 400 if request.method == "POST" else 200
    return render_template("console/call.html", form=form, **context), status


def _flag(form: CallForm, error: str | None) -> None:
    if error and error not in form.phone.errors:
        form.phone.errors = [*form.phone.errors, error]
