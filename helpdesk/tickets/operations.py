"""What agents do to tickets: reply, note, assign, change, tag, merge.

Every function changes the session and logs events; the caller commits.
Live updates and deliveries are queued to run after that commit.
"""

from __future__ import annotations

from sqlalchemy import select

from helpdesk import channels, realtime, search
from helpdesk.effects import on_commit
from helpdesk.extensions import db
from helpdesk.models import Agent, Message, Tag, Team, Ticket
from helpdesk.models.base import utcnow
from helpdesk.models.ticket import PRIORITIES, STATUSES
from helpdesk.sanitize import text_to_html
from helpdesk.sla import clocks
from helpdesk.tickets.events import record
from helpdesk.tickets.inbound import IncomingFile, attach


class TicketError(ValueError):
    """A change that cannot be made, with a message fit to show the agent."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _touch(ticket: Ticket, change: str) -> None:
    ticket.updated_at = utcnow()
    on_commit(realtime.ticket_changed, ticket.id, change)


def _writable(ticket: Ticket) -> None:
    if ticket.merged_into_id:
        raise TicketError(f"{ticket.reference} was merged into {ticket.merged_into.reference}")


def reply(ticket: Ticket, agent: Agent, body: str, files: list[IncomingFile] | None = None,
          status: str | None = None, client_id: str | None = None) -> Message:
    """Send a public reply to the customer over the ticket's channel.

    With ``client_id`` (a chat client's id for the message) the same reply sent
    twice is stored and delivered once: the second call returns the first.
    """
    _writable(ticket)
    if client_id:
        existing = db.session.scalar(
            select(Message).where(Message.ticket_id == ticket.id, Message.client_id == client_id))
        if existing is not None:
            return existing
    body = (body or "").strip()
    if not body:
        raise TicketError("Write a reply before sending.", "body")
    now = utcnow()
    message = Message(
        ticket=ticket,
        author_type="agent",
        author_agent=agent,
        channel=ticket.channel,
        body_text=body,
        body_html=text_to_html(body),
        created_at=now,
        client_id=client_id,
        delivery_status="pending" if channels.get(ticket.channel).deliver else None,
    )
    db.session.add(message)
    attach(message, files or [])
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
    ticket.last_customer_message_at = None  # answered: the next-response clock stops
    if ticket.status == "new" and status is None:
        status = "open"
    db.session.flush()
    record(ticket, "reply", agent, message_id=message.id)
    clocks.on_agent_reply(ticket, now)
    if status and status != ticket.status:
        set_status(ticket, status, agent)
    search.index_message(message)
    _touch(ticket, "message")
    deliver = channels.get(ticket.channel).deliver
    if deliver:
        on_commit(deliver, message.id)
    return message


def add_note(ticket: Ticket, agent: Agent, body: str, files: list[IncomingFile] | None = None) -> Message:
    """Add an internal note that only agents see."""
    body = (body or "").strip()
    if not body:
        raise TicketError("Write a note before saving.", "body")
    message = Message(
        ticket=ticket, author_type="agent", author_agent=agent, channel=ticket.channel,
        internal=True, body_text=body, body_html=text_to_html(body),
    )
    db.session.add(message)
    attach(message, files or [])
    db.session.flush()
    record(ticket, "note", agent, message_id=message.id)
    search.index_message(message)
    _touch(ticket, "message")
    return message


def set_status(ticket: Ticket, status: str, actor: Agent | None = None) -> None:
    """Move the ticket to ``status``."""
    if status not in STATUSES:
        raise TicketError(f"Status must be one of {', '.join(STATUSES)}.", "status")
    if status == ticket.status:
        return
    _writable(ticket)
    record(ticket, "status", actor, **{"from": ticket.status, "to": status})
    now = utcnow()
    old, ticket.status = ticket.status, status
    if status == "solved":
        ticket.solved_at = now
    elif status == "closed":
        ticket.closed_at = now
        ticket.solved_at = ticket.solved_at or now
    else:
        ticket.solved_at = ticket.closed_at = None
    clocks.on_status_change(ticket, old, status, now)
    if status == "solved":
        from helpdesk.portal.satisfaction import on_solved  # here: the portal imports the ticket service

        on_solved(ticket)
    _touch(ticket, "status")


def set_priority(ticket: Ticket, priority: str, actor: Agent | None = None) -> None:
    """Change the ticket's priority."""
    if priority not in PRIORITIES:
        raise TicketError(f"Priority must be one of {', '.join(PRIORITIES)}.", "priority")
    if priority != ticket.priority:
        record(ticket, "priority", actor, **{"from": ticket.priority, "to": priority})
        ticket.priority = priority
        clocks.on_reclassify(ticket)
        _touch(ticket, "priority")


def assign(ticket: Ticket, agent: Agent | None, actor: Agent | None = None) -> None:
    """Give the ticket to ``agent`` (None: unassign)."""
    if agent is not None and not agent.active:
        raise TicketError(f"{agent.email} is deactivated.", "assignee")
    if agent != ticket.assignee:
        record(ticket, "assignee", actor, **{
            "from": ticket.assignee.email if ticket.assignee else None,
            "to": agent.email if agent else None,
        })
        ticket.assignee = agent
        if agent is not None and ticket.status == "new":
            set_status(ticket, "open", actor)
        _touch(ticket, "assignee")


def set_team(ticket: Ticket, team: Team | None, actor: Agent | None = None) -> None:
    """Move the ticket to ``team`` (None: no team)."""
    if team != ticket.team:
        record(ticket, "team", actor, **{
            "from": ticket.team.name if ticket.team else None, "to": team.name if team else None,
        })
        ticket.team = team
        _touch(ticket, "team")


def normalize_tag(name: str) -> str:
    """Return a tag name as stored: trimmed, lower-case, spaces as dashes."""
    return "-".join((name or "").strip().lower().split())[:50]


def set_tags(ticket: Ticket, names: list[str], actor: Agent | None = None) -> None:
    """Replace the ticket's tags with ``names``."""
    wanted = sorted({normalize_tag(n) for n in names if normalize_tag(n)})
    current = sorted(t.name for t in ticket.tags)
    if wanted == current:
        return
    existing = {t.name: t for t in db.session.scalars(select(Tag).where(Tag.name.in_(wanted)))}
    ticket.tags = [existing.get(name) or Tag(name=name) for name in wanted]
    record(ticket, "tags", actor, added=sorted(set(wanted) - set(current)), removed=sorted(set(current) - set(wanted)))
    _touch(ticket, "tags")


def merge(source: Ticket, target: Ticket, actor: Agent | None = None) -> None:
    """Move ``source``'s conversation into ``target`` and close ``source``.

    Messages keep their times, so the target's thread reads in order; the
    source stays as a closed pointer so its reference and links still resolve.
    """
    if source.id == target.id:
        raise TicketError("A ticket cannot be merged into itself.", "target")
    _writable(source)
    _writable(target)
    moved = db.session.scalars(select(Message).where(Message.ticket_id == source.id)).all()
    taken = set(db.session.scalars(select(Message.client_id).where(Message.ticket_id == target.id,
                                                                   Message.client_id.isnot(None))))
    for message in moved:
        if message.client_id in taken:
            # Client ids are unique per ticket (both tickets may have an acknowledgement, or a
            # chat's "start"): the moved one keeps its origin in its id.
            message.client_id = f"{source.reference}:{message.client_id}"[:64]
        message.ticket = target
    target.tags = sorted({*target.tags, *source.tags}, key=lambda t: t.name)
    if source.customer_id != target.customer_id:
        record(target, "merged_customer", actor, customer_id=source.customer_id)
    record(target, "merged_from", actor, source=source.reference, messages=len(moved))
    record(source, "merged", actor, target=target.reference)
    set_status(source, "closed", actor)
    source.merged_into = target
    db.session.flush()
    search.reindex_ticket_messages(target)
    _touch(target, "merged")
    _touch(source, "merged")
