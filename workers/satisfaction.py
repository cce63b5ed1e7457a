"""Jobs that ask customers how we did."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk.channels.email import loops, outbound
from helpdesk.extensions import db
from helpdesk.models import Ticket, TicketEvent
from workers.app import get_app


def send_survey(ticket_id: int) -> str:
    """Email the satisfaction survey of a solved ticket; once per solving, never twice."""
    from helpdesk.portal import mail
    from helpdesk.portal.links import ticket_url
    from helpdesk.portal.satisfaction import RATINGS, rating_of, rating_url
    from helpdesk.tickets.events import record

    with get_app().app_context():
        ticket = db.session.get(Ticket, ticket_id)
        if ticket is None or ticket.status != "solved" or ticket.solved_at is None:
            return "not solved"
        if rating_of(ticket) is not None:
            return "already rated"
        solved = ticket.solved_at.isoformat()
        sent = db.session.scalars(select(TicketEvent.data).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "survey_sent")).all()
        if any((data or {}).get("solved_at") == solved for data in sent):
            return "already sent"
        try:
            address = outbound.recipient(ticket)
        except outbound.Undeliverable as exc:
            return f"undeliverable: {exc}"
        if address in loops.own_addresses():
            return "our own address"
        if not loops.take_auto_mail_budget(address):
            return "over the automatic mail budget"
        links = [(rating, rating_url(ticket, rating)) for rating in RATINGS]
        mail.send_survey(ticket, address, links, ticket_url(ticket))
        record(ticket, "survey_sent", None, to=address, solved_at=solved)
        db.session.commit()
        return "sent"
