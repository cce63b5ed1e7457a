"""Customer pages: the list with search, and one customer's profile and timeline."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from helpdesk import customers as service
from helpdesk.console import bp
from helpdesk.console.forms import NOBODY, CustomerForm, IdentityForm
from helpdesk.extensions import db
from helpdesk.models import Agent, Customer, Ticket
from helpdesk.search import matching
from helpdesk.tickets.queries import visible_to

PAGE_SIZE = 50


@bp.get("/customers")
@login_required
def customers():
    """List customers, newest first, or those matching a search."""
    q = (request.args.get("q") or "").strip()
    before = request.args.get("before", type=int)
    stmt = select(Customer)
    if q:
        stmt = stmt.where(Customer.id.in_(matching(q)[1]))
    if before:
        stmt = stmt.where(Customer.id < before)
    rows = db.session.scalars(stmt.order_by(Customer.id.desc()).limit(PAGE_SIZE + 1)).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render_template("console/customers.html", rows=rows, q=q, before=before,
                           next_before=rows[-1].id if more else None)


def customer_tickets(customer: Customer, limit: int = 200) -> list[Ticket]:
    """Return the customer's tickets the agent may see, every channel, newest first, messages loaded."""
    stmt = select(Ticket).where(Ticket.customer_id == customer.id).options(selectinload(Ticket.messages))
    visibility = visible_to(current_user)
    if visibility is not None:
        stmt = stmt.where(visibility)
    return db.session.scalars(stmt.order_by(Ticket.id.desc()).limit(limit)).unique().all()


def _owner_choices() -> list[tuple[int, str]]:
    agents = db.session.scalars(select(Agent).where(Agent.active).order_by(Agent.name))
    return [(NOBODY, "— Nobody —")] + [(a.id, a.name) for a in agents]




def _render(customer: Customer, form: CustomerForm, identity_form: IdentityForm, status: int = 200):
    tickets = customer_tickets(customer)
    timeline = sorted(
        ((m, t) for t in tickets for m in t.messages), key=lambda pair: (pair[0].created_at, pair[0].id), reverse=True
    )
    return render_template("console/customer.html", customer=customer, form=form, identity_form=identity_form,
                           tickets=tickets, timeline=timeline), status


@bp.route("/customers/<int:customer_id>", methods=["GET", "POST"])
@login_required
def customer(customer_id: int):
    """Show a customer's profile and whole timeline; save profile edits."""
    customer = db.get_or_404(Customer, customer_id)
    form = CustomerForm(obj=customer if request.method == "GET" else None)
    form.account_owner.choices = _owner_choices()
    if request.method == "GET":
        form.account_owner.data = customer.account_owner_id or NOBODY
    elif form.validate_on_submit():
        owner = db.session.get(Agent, form.account_owner.data) if form.account_owner.data else None
        try:
            service.update_customer(customer, form.name.data, form.vip.data, form.language.data, owner)
        except service.CustomerError as exc:
            db.session.rollback()
            getattr(form, exc.field or "name").errors.append(str(exc))
            return _render(customer, form, IdentityForm(formdata=None), 400)
        db.session.commit()
        flash("Customer saved.")
        return redirect(url_for("console.customer", customer_id=customer.id))
    else:
        return _render(customer, form, IdentityForm(formdata=None), 400)
    return _render(customer, form, IdentityForm(formdata=None))


@bp.post("/customers/<int:customer_id>/identities")
@login_required
def add_identity(customer_id: int):
    """Add an email address or phone number to a customer."""
    customer = db.get_or_404(Customer, customer_id)
    identity_form = IdentityForm()
    form = CustomerForm(formdata=None, obj=customer)
    form.account_owner.choices = _owner_choices()
    form.account_owner.data = customer.account_owner_id or NOBODY
    if identity_form.validate_on_submit():
        try:
            service.add_identity(customer, identity_form.kind.data, identity_form.value.data)
        except service.CustomerError as exc:
            db.session.rollback()
            identity_form.value.errors.append(str(exc))
            return _render(customer, form, identity_form, 400)
        db.session.commit()
        flash(f"{identity_form.value.data} added.")
        return redirect(url_for("console.customer", customer_id=customer.id))
    return _render(customer, form, identity_form, 400)

