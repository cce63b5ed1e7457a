"""Choose the agent a new chat is offered to."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from helpdesk import presence
from helpdesk.extensions import db
from helpdesk.models import Agent, Conversation


def load(agent_ids: list[int]) -> dict[int, int]:
    """Return how many chats each agent holds: active ones plus offers still waiting for them."""
    if not agent_ids:
        return {}
    holder = func.coalesce(Conversation.agent_id, Conversation.offered_agent_id)
    rows = db.session.execute(
        select(holder, func.count())
        .where(or_(
            (Conversation.state == "active") & Conversation.agent_id.in_(agent_ids),
            (Conversation.state == "waiting") & Conversation.offered_agent_id.in_(agent_ids),
        ))
        .group_by(holder)
    )
    return {agent_id: count for agent_id, count in rows}


def available(agent: Agent, counts: dict[int, int], present: set[int]) -> bool:
    """Say whether ``agent`` can take one more chat: online, with a console open, under their maximum."""
    return (agent.active and agent.presence == "online" and agent.id in present
            and counts.get(agent.id, 0) < agent.max_chats)


def _online(exclude: set[int] = frozenset()) -> list[Agent]:
    """Return the active agents who say they are online (whether a console is open is ``presence``'s question)."""
    return list(db.session.scalars(
        select(Agent).where(Agent.active, Agent.presence == "online", Agent.id.notin_(exclude or {0}))))


def anyone_available() -> bool:
    """Say whether a chat started now would be offered to someone (a chat with no team may go to any agent)."""
    pool = _online()
    ids = [agent.id for agent in pool]
    counts, present = load(ids), presence.reachable(ids)
    return any(available(agent, counts, present) for agent in pool)


def choose(conversation: Conversation, exclude: set[int] = frozenset()) -> Agent | None:
    """Return who gets the chat: the account owner when free, else the least-busy online agent.

    Only agents with a console open count (``helpdesk.presence``): "online"
    on an agent who has since closed every console is not an answer.

    The pool is the ticket's team, or every agent when the ticket has none.
    Ties go to the agent who joined first, so the choice is repeatable.
    """
    owner = conversation.customer.account_owner
    if conversation.team is not None:
        pool = [a for a in conversation.team.members if a.id not in exclude]
    else:
        pool = _online(exclude)
    candidates = [a.id for a in pool if a.presence == "online"] + ([owner.id] if owner else [])
    counts, present = load(candidates), presence.reachable(candidates)
    if owner is not None and owner.id not in exclude and available(owner, counts, present):
        return owner
    free = [a for a in pool if available(a, counts, present)]
    return min(free, key=lambda a: (counts.get(a.id, 0), a.id)) if free else None
