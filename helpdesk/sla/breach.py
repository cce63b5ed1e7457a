"""What a breach does: an event, a live notice, an email, and the policy's escalation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from helpdesk import realtime
from helpdesk.models import SlaClock, Ticket
from helpdesk.models.ticket import PRIORITIES
from helpdesk.tickets.events import record


def notify(breaches: list[tuple[int, str]]) -> None:
    """Tell the consoles live, and queue the breach emails (after the commit that recorded ``breaches``).

    One query loads every breached ticket; each still gets its own live
    ``ticket`` change and ``notification``.
    """
    from helpdesk.extensions import db
    from workers.queues import enqueue

    ids = sorted({ticket_id for ticket_id, _ in breaches})
    tickets = {t.id: t for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(ids)))}
    for ticket_id, target in breaches:
        ticket = tickets.get(ticket_id)
        if ticket is None:
            continue
        realtime.ticket_changed(ticket_id, "sla_breach")
        realtime.emit("notification", {
            "kind": "sla_breach", "reference": ticket.reference, "target": target,
            "message": f"{ticket.reference} breached its {target.replace('_', ' ')} target",
        }, to=realtime.AGENTS)
        if ticket.assignee is None and (ticket.team is None or not ticket.team.members):
            continue  # nobody to email: no job
        enqueue("workers.mail.send_breach_notice", ticket_id, target, queue_name="mail",
                job_id=f"breach-notice-{ticket_id}-{target}-{int(ticket.sla_breached_at.timestamp())}")


def breach(ticket: Ticket, clock: SlaClock, now: datetime, clocks: list[SlaClock]) -> None:
    """Record the breach of ``clock`` (already claimed) and escalate as its policy says.

    ``clocks`` are all of the ticket's clocks, loaded by the caller, so the
    ticket's due times are refreshed without a query per ticket.
    """
    from helpdesk import tickets
    from helpdesk.sla.clocks import sync_ticket

    ticket.sla_breaches = sorted({*(ticket.sla_breaches or []), clock.target})
    ticket.sla_breached_at = ticket.sla_breached_at or now
    record(ticket, "sla.breach", None, target=clock.target, due_at=clock.due_at.isoformat(),
           policy=clock.policy.name if clock.policy else None)
    escalation = clock.policy.escalation if clock.policy else "none"
    if escalation == "raise_priority" and ticket.priority_rank < len(PRIORITIES) - 1:
        tickets.set_priority(ticket, PRIORITIES[ticket.priority_rank + 1])
    elif escalation == "reassign_lead" and ticket.team is not None and ticket.team.lead is not None:
        tickets.assign(ticket, ticket.team.lead)
    sync_ticket(ticket, clocks)
