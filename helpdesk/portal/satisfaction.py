"""Satisfaction surveys: ask when a ticket is solved, record the 1-5 rating, act on low ones."""

from __future__ import annotations

import logging

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from redis.exceptions import RedisError
from sqlalchemy import select

from helpdesk import realtime, tickets
from helpdesk.effects import on_commit
from helpdesk.extensions import db
from helpdesk.models import Ticket
from helpdesk.models.base import utcnow
from helpdesk.models.selfservice import SatisfactionRating
from helpdesk.tickets.events import record

log = logging.getLogger(__name__)
_SALT = "satisfaction-rating"
RATINGS = (1, 2, 3, 4, 5)
LOW = 2


def labels() -> dict[int, str]:
    """Return each rating's words in the current language."""
    return {1: _("Very bad"), 2: _("Bad"), 3: _("OK"), 4: _("Good"), 5: _("Excellent")}


def on_solved(ticket: Ticket) -> None:
    """Ask the customer to rate ``ticket`` once the change that solved it commits."""
    on_commit(queue_survey, ticket.id)


def queue_survey(ticket_id: int) -> None:
    """Queue the survey email (after the commit)."""
    from workers.queues import enqueue

    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or ticket.solved_at is None:
        return
    try:
        enqueue("workers.satisfaction.send_survey", ticket_id, queue_name="mail",
                job_id=f"survey-{ticket_id}-{int(ticket.solved_at.timestamp())}")
    except RedisError:
        log.warning("could not queue the survey of ticket %s", ticket_id)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def rating_token(ticket: Ticket, rating: int) -> str:
    """Return the signed token of the one-click link rating ``ticket`` with ``rating``."""
    return _serializer().dumps([ticket.id, ticket.customer_id, rating])


def rating_url(ticket: Ticket, rating: int) -> str:
    """Return the absolute one-click link for ``rating``."""
    return f"{current_app.config['BASE_URL']}/portal/rate/{rating_token(ticket, rating)}"


def check_token(token: str) -> tuple[Ticket, int] | None:
    """Return (ticket, rating) a token was signed for, if it still names the ticket's customer."""
    try:
        ticket_id, customer_id, rating = _serializer().loads(token or "")
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(ticket_id, int) or not isinstance(rating, int) or rating not in RATINGS:
        return None
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or ticket.customer_id != customer_id:
        return None
    return ticket, rating


def rating_of(ticket: Ticket) -> SatisfactionRating | None:
    """Return the ticket's rating, if the customer gave one."""
    return db.session.scalar(select(SatisfactionRating).where(SatisfactionRating.ticket_id == ticket.id))


def rate(ticket: Ticket, rating: int, comment: str | None = None) -> SatisfactionRating:
    """Record (or change) the customer's rating of ``ticket``; the caller commits."""
    if rating not in RATINGS:
        raise ValueError("rating must be 1 to 5")
    row = rating_of(ticket)
    was_low = row is not None and row.rating <= LOW
    now = utcnow()
    if row is None:
        row = SatisfactionRating(ticket_id=ticket.id, customer_id=ticket.customer_id, rating=rating,
                                 comment="", created_at=now)
        db.session.add(row)
    changed = row.rating != rating or (comment is not None and comment.strip() != row.comment)
    row.rating, row.updated_at = rating, now
    if comment is not None:
        row.comment = comment.strip()[:4000]
    if changed or row.id is None:
        record(ticket, "satisfaction", ticket.customer, rating=rating, comment=bool(row.comment))
    db.session.flush()
    if rating <= LOW and not was_low:
        _low_rating(ticket, row)
    return row


def _low_rating(ticket: Ticket, row: SatisfactionRating) -> None:
    action = current_app.config.get("HELPDESK_LOW_RATING_ACTION", "notify")
    if action == "reopen" and ticket.status in ("solved", "closed") and not ticket.merged_into_id:
        record(ticket, "reopened_by_rating", ticket.customer, rating=row.rating)
        tickets.set_status(ticket, "open", None)
        return
    tickets.add_note(ticket, None, f"The customer rated this ticket {row.rating}/5."
                     + (f"\n\n{row.comment}" if row.comment else ""))
    on_commit(notify_team, ticket.id, row.rating)


def notify_team(ticket_id: int, rating: int) -> None:
    """Tell the assignee (or the team, or every agent) that a customer gave a low rating."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return
    payload = {"kind": "low_rating", "reference": ticket.reference, "rating": rating,
               "message": f"{ticket.reference} was rated {rating}/5", "url": f"/console/tickets/{ticket.reference}"}
    if ticket.assignee_id:
        room = realtime.agent_room(ticket.assignee_id)
    elif ticket.team_id:
        room = realtime.team_room(ticket.team_id)
    else:
        room = realtime.AGENTS
    realtime.emit("notification", payload, to=room)


def summary(customer) -> dict:
    """Return a customer's ratings: count, average and the five most recent."""
    rows = list(db.session.scalars(select(SatisfactionRating).where(SatisfactionRating.customer_id == customer.id)
                                   .order_by(SatisfactionRating.updated_at.desc())))
    average = sum(r.rating for r in rows) / len(rows) if rows else None
    return {"count": len(rows), "average": average, "recent": rows[:5]}
