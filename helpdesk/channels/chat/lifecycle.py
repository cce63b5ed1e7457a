"""A chat's states and who holds it: offer, accept, transfer, time out to offline, end.

    waiting --accept--> active --end--> ended
    waiting --no agent / time-out--> offline --end--> ended
    active --transfer to a team--> waiting;  active --transfer to an agent--> active
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from helpdesk import presence, realtime, tickets
from helpdesk.channels.chat import payloads, routing
from helpdesk.channels.chat.protocol import ChatError
from helpdesk.effects import on_commit
from helpdesk.extensions import db
from helpdesk.models import Agent, Conversation, Message, Team
from helpdesk.models.base import utcnow
from helpdesk.sla.acknowledgement import queue_acknowledgement
from helpdesk.tickets.events import record
from helpdesk.tickets.queries import can_see


def for_agent(conversation_id: int, agent: Agent) -> Conversation:
    """Return the conversation if ``agent`` may see its ticket, else raise not_found."""
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None or not can_see(agent, conversation.ticket):
        raise ChatError("not_found", f"no conversation {conversation_id}")
    return conversation


def require_agent(conversation: Conversation, agent: Agent) -> None:
    """Refuse anyone but the agent in the chat."""
    if conversation.agent_id != agent.id:
        raise ChatError("forbidden", "you are not the agent in this chat; accept it first")


def _notify(conversation_id: int, *agent_ids: int | None) -> None:
    """Send the chat's new state to the visitor and to each agent concerned."""
    conversation = db.session.get(Conversation, conversation_id)
    realtime.to_visitor(conversation.id, "state", {"state": conversation.state})
    for agent_id in {a for a in (*agent_ids, conversation.agent_id, conversation.offered_agent_id) if a}:
        realtime.to_agent(agent_id, "chat_state", payloads.state(conversation))


def _request(conversation: Conversation, agent_id: int, first: Message | None = None,
             transfer_from: str | None = None) -> None:
    """Send the agent the chat's ``chat_request`` once the transaction commits.

    The payload is built now, while the conversation, ticket, customer and
    first message are loaded: the commit expires them, and loading them again
    afterwards was about a quarter of the CPU of starting a chat (docs/benchmarks.md).
    """
    if first is None:
        first = db.session.scalar(select(Message).where(Message.ticket_id == conversation.ticket_id)
                                  .order_by(Message.id).limit(1))
    on_commit(realtime.to_agent, agent_id, "chat_request", payloads.request(conversation, first, transfer_from))


def _schedule_timeout(conversation_id: int, seconds: int) -> None:
    from workers.queues import enqueue

    try:
        enqueue("workers.chat.accept_timeout", conversation_id, queue_name="sla",
                at=utcnow() + timedelta(seconds=seconds))
    except Exception:  # Redis down: the chat stays waiting until an agent sees it in the desk
        current_app.logger.exception("could not schedule the accept time-out of chat %s", conversation_id)


def offer(conversation: Conversation, first: Message | None = None, exclude: set[int] = frozenset()) -> None:
    """Offer the chat to the agent routing picks, with a time-out; nobody free: go offline."""
    agent = routing.choose(conversation, exclude)
    if agent is None:
        go_offline(conversation, "no agent available")
        return
    conversation.state, conversation.agent = "waiting", None
    conversation.offered_agent, conversation.offered_at = agent, utcnow()
    db.session.flush()
    record(conversation.ticket, "chat_offered", None, agent=agent.email)
    _request(conversation, agent.id, first)
    on_commit(_schedule_timeout, conversation.id, current_app.config["CHAT_ACCEPT_SECONDS"])


def go_offline(conversation: Conversation, reason: str) -> None:
    """Tell the visitor nobody is available; the ticket continues by email, with the acknowledgement."""
    previous = conversation.agent_id or conversation.offered_agent_id
    conversation.state, conversation.offered_agent, conversation.agent = "offline", None, None
    ticket = conversation.ticket
    record(ticket, "chat_offline", None, reason=reason)
    if ticket.ack_status is None and ticket.customer.email:
        ticket.ack_status = "pending"
        on_commit(queue_acknowledgement, ticket.id)
    db.session.flush()
    on_commit(_notify, conversation.id, previous)


def expire_offer(conversation_id: int) -> str:
    """Turn a chat nobody accepted in time offline; do nothing once accepted or re-offered since."""
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None or conversation.state != "waiting":
        return "nothing to do"
    seconds = current_app.config["CHAT_ACCEPT_SECONDS"]
    if conversation.offered_at is not None and conversation.offered_at + timedelta(seconds=seconds - 0.5) > utcnow():
        return "offered again since; a later job decides"
    go_offline(conversation, "nobody accepted in time")
    return "offline"


def accept(conversation: Conversation, agent: Agent) -> None:
    """Give a waiting chat to ``agent``; exactly one of two racing agents wins."""
    if conversation.state == "active" and conversation.agent_id == agent.id:
        return
    if conversation.state != "waiting":
        raise ChatError("conflict", f"the chat is {conversation.state}" +
                        (" with another agent" if conversation.state == "active" else ""))
    offered = conversation.offered_agent_id
    now = utcnow()
    won = db.session.execute(
        update(Conversation).where(Conversation.id == conversation.id, Conversation.state == "waiting")
        .values(state="active", agent_id=agent.id, offered_agent_id=None, accepted_at=now, last_activity_at=now)
    ).rowcount
    if not won:
        raise ChatError("conflict", "another agent accepted this chat")
    db.session.refresh(conversation)
    tickets.assign(conversation.ticket, agent, agent)
    record(conversation.ticket, "chat_accepted", agent)
    on_commit(realtime.to_visitor, conversation.id, "agent", {"name": agent.name})
    on_commit(_notify, conversation.id, offered)


def transfer(conversation: Conversation, actor: Agent, email: str | None, team_name: str | None) -> None:
    """Hand the chat to another agent (it stays active) or to a team (it waits for one of them)."""
    if conversation.agent_id != actor.id and not actor.is_admin:
        raise ChatError("forbidden", "only the agent in this chat (or an admin) can transfer it")
    if conversation.state not in ("waiting", "active"):
        raise ChatError("conflict", f"the chat is {conversation.state}")
    previous = conversation.agent_id or conversation.offered_agent_id
    if email:
        target = db.session.scalar(select(Agent).where(Agent.email == email.strip().lower(), Agent.active))
        if target is None or not can_see(target, conversation.ticket):
            raise ChatError("not_found", f"no agent {email} who can see this ticket")
        if target.presence != "online":
            raise ChatError("unavailable", f"{target.name} is {target.presence}")
        if not presence.reachable([target.id]):
            raise ChatError("unavailable", f"{target.name} has no console open")
        conversation.state, conversation.agent, conversation.offered_agent = "active", target, None
        conversation.accepted_at = utcnow()
        tickets.assign(conversation.ticket, target, actor)
        record(conversation.ticket, "chat_transferred", actor, to=target.email)
        db.session.flush()
        _request(conversation, target.id, transfer_from=actor.name)
        on_commit(realtime.to_visitor, conversation.id, "agent", {"name": target.name})
        on_commit(_notify, conversation.id, previous)
        return
    team = db.session.scalar(select(Team).where(Team.name == (team_name or "").strip()))
    if team is None:
        raise ChatError("not_found", f"no team {team_name!r}")
    tickets.set_team(conversation.ticket, team, actor)
    tickets.assign(conversation.ticket, None, actor)
    conversation.team = team
    record(conversation.ticket, "chat_transferred", actor, team=team.name)
    offer(conversation, exclude={actor.id})
    if conversation.state == "waiting":
        on_commit(_notify, conversation.id, previous)


def end(conversation: Conversation, actor: Agent | None) -> None:
    """End the chat (either side); ending twice changes nothing."""
    if conversation.state == "ended":
        return
    previous = conversation.agent_id or conversation.offered_agent_id
    conversation.state, conversation.ended_at = "ended", utcnow()
    conversation.offered_agent = None
    record(conversation.ticket, "chat_ended", actor if actor else conversation.customer)
    db.session.flush()
    on_commit(_notify, conversation.id, previous)
