"""The chat desk: incoming requests, several chats side by side, presence."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from helpdesk import accounts
from helpdesk.console import bp
from helpdesk.console.customers import customer_tickets
from helpdesk.extensions import db
from helpdesk.models import Agent, CannedResponse, Conversation, Team
from helpdesk.models.agent import PRESENCES
from helpdesk.tickets.queries import can_see


def _waiting() -> list[Conversation]:
    rows = db.session.scalars(select(Conversation).where(Conversation.state == "waiting")
                              .order_by(Conversation.id).limit(100))
    return [c for c in rows if can_see(current_user, c.ticket)]


@bp.get("/chat")
@login_required
def chat():
    """Show the chat desk."""
    mine = db.session.scalars(select(Conversation.id).where(
        Conversation.state == "active", Conversation.agent_id == current_user.id).order_by(Conversation.id)).all()
    return render_template(
        "console/chat.html",
        waiting=_waiting(), mine=list(mine), presences=PRESENCES,
        agents=db.session.scalars(select(Agent).where(Agent.active).order_by(Agent.name)).all(),
        teams=db.session.scalars(select(Team).order_by(Team.name)).all(),
        canned=db.session.scalars(select(CannedResponse).order_by(CannedResponse.title)).all(),
    )


@bp.get("/chat/<int:conversation_id>/customer")
@login_required
def chat_customer(conversation_id: int):
    """Return the customer panel of a chat: profile, VIP, history across channels (an HTML fragment)."""
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None or not can_see(current_user, conversation.ticket):
        abort(404)
    customer = conversation.customer
    return render_template("console/_caller.html", caller=customer,
                           caller_tickets=customer_tickets(customer, limit=20))


@bp.post("/chat/presence")
@login_required
def chat_presence():
    """Set the agent's presence (the form behind the desk's selector, for when scripts do not run)."""
    try:
        accounts.set_presence(current_user, request.form.get("status", ""))
    except accounts.AccountError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
    return redirect(url_for("console.chat"))


@bp.app_context_processor
def _chat_requests() -> dict:
    def waiting_for_me() -> list[int]:
        """Return the chats offered to the signed-in agent and still waiting."""
        if not current_user.is_authenticated:
            return []
        return list(db.session.scalars(select(Conversation.id).where(
            Conversation.state == "waiting", Conversation.offered_agent_id == current_user.id).limit(100)))

    return {"chat_requests_waiting": waiting_for_me}
