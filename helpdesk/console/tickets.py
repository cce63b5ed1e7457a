"""The ticket list and a ticket's page."""

from __future__ import annotations

from flask import abort, make_response, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from helpdesk import CSP
from helpdesk.console import bp, message_display, sla_display
from helpdesk.extensions import db
from helpdesk.models import Agent, CannedResponse, Team, Ticket, TicketEvent
from helpdesk.tickets import queries
from helpdesk.tickets.queries import SORTS, VIEWS, BadCursor, TicketFilter, list_tickets, view_counts

PAGE_SIZE = 25
#: Sidebar groups: the working views first, then one per channel.
VIEW_GROUPS = [
    ("Views", ["mine", "unassigned", "open", "pending", "solved", "all"]),
    ("SLA", ["breaching", "breached"]),
    ("Channels", [key for key in VIEWS if key.startswith("channel:")]),
]


def visible_ticket(reference: str) -> Ticket:
    """Return the ticket ``reference`` names if the agent may see it; else 404."""
    ticket = Ticket.by_reference(reference)
    if ticket is None or not queries.can_see(current_user, ticket):
        abort(404)
    return ticket


@bp.get("/tickets")
@login_required
def tickets():
    """List tickets in a view, sorted, one keyset page at a time, optionally searched."""
    q = (request.args.get("q") or "").strip()
    view = request.args.get("view") or ("all" if q else "open")
    if view not in VIEWS:
        abort(404)
    sort = request.args.get("sort") or VIEWS[view].sort
    cursor = request.args.get("cursor") or None
    if sort not in SORTS:
        abort(404)
    try:
        rows, next_cursor = list_tickets(current_user, TicketFilter(view=view, query=q or None), sort, cursor,
                                         PAGE_SIZE)
    except BadCursor:
        abort(400)
    return render_template(
        "console/tickets.html",
        rows=rows, next_cursor=next_cursor, cursor=cursor, view=VIEWS[view], sort=sort, q=q,
        sorts=SORTS, views=VIEWS, groups=VIEW_GROUPS, counts=view_counts(current_user, list(VIEWS)),
        sla_badges=sla_display.list_badges(rows),
    )


def _history(ticket: Ticket) -> list[Ticket]:
    """Return the customer's other tickets from every channel that the agent may see, newest first."""
    stmt = select(Ticket).where(Ticket.customer_id == ticket.customer_id, Ticket.id != ticket.id)
    visibility = queries.visible_to(current_user)
    if visibility is not None:
        stmt = stmt.where(visibility)
    return db.session.scalars(stmt.order_by(Ticket.id.desc()).limit(200)).unique().all()


@bp.get("/tickets/<reference>")
@login_required
def ticket(reference: str):
    """Show a ticket: its conversation, composer, properties, customer and event log.

    Remote images in HTML bodies stay unloaded unless the agent asked (``?images=1``);
    only then does this page's policy let the browser fetch them.
    """
    images = request.args.get("images") == "1"
    response = make_response(render_ticket(visible_ticket(reference), images=images))
    if images:
        response.headers["Content-Security-Policy"] = CSP.replace(
            "img-src 'self' data:", "img-src 'self' data: https: http:")
    return response


def render_ticket(ticket: Ticket, errors: dict | None = None, draft: dict | None = None, status: int = 200,
                  images: bool = False):
    """Render a ticket's page, with a failed form's errors and text kept when given."""
    events = db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    ).all()
    messages = ticket.messages
    sla_badge, sla_rows = sla_display.ticket_sla(ticket)
    agents = db.session.scalars(select(Agent).where(Agent.active).order_by(Agent.name)).all()
    page = render_template(
        "console/ticket.html",
        ticket=ticket,
        messages=messages,
        events=events,
        bodies={m.id: message_display.prepare_body(m, images) for m in messages},
        raw_sources=message_display.raw_sources(messages),
        images=images,
        sla_badge_value=sla_badge,
        delivery=message_display.delivery,
        decisions=message_display.decisions,
        sla_rows=sla_rows,
        sla_why=sla_display.sla_events(events),
        history=_history(ticket),
        agents=agents,
        agent_names={a.email: a.name for a in agents},
        teams=db.session.scalars(select(Team).order_by(Team.name)).all(),
        canned=db.session.scalars(select(CannedResponse).order_by(CannedResponse.title)).all(),
        errors=errors or {},
        draft=draft or {},
    )
    return page, status
