"""What a breach does: an event, a live notice, an email, and the policy's escalation."""

from __future__ import annotations

from datetime import datetime

from helpdesk import realtime
from helpdesk.effects import on_commit
from helpdesk.models import SlaClock, Ticket
from helpdesk.models.ticket import PRIORITIES
from helpdesk.tickets.events import record


def _notify(ticket_id: int, target: str) -> None:
    """Tell the consoles live, and queue the breach email."""
    from helpdesk.extensions import db
    from workers.queues import enqueue

    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return
    realtime.ticket_changed(ticket_id, "sla_breach")
    realtime.emit("notification", {
        "kind": "sla_breach", "reference": ticket.reference, "target": target,
        "message": f"{ticket.reference} breached its {target.replace('_', ' ')} target",
    }, to=realtime.AGENTS)
    if ticket.assignee is None and (ticket.team is None or not ticket.team.members):
        return  # nobody to email: no job
    enqueue("workers.mail.send_breach_notice", ticket_id, target, queue_name="mail",
            job_id=f"breach-notice-{ticket_id}-{target}-{int(ticket.sla_breached_at.timestamp())}")


def breach(ticket: Ticket, clock: SlaClock, now: datetime) -> None:
    """Record the breach of ``clock`` (already claimed) and escalate as its policy says."""
    from helpdesk import tickets

    ticket.sla_breaches = sorted({*(ticket.sla_breaches or []), clock.target})
    ticket.sla_breached_at = ticket.sla_breached_at or now
    record(ticket, "sla.breach", None, target=clock.target, due_at=clock.due_at.isoformat(),
           policy=clock.policy.name if clock.policy else None)
    escalation = clock.policy.escalation if clock.policy else "none"
    if escalation == "raise_priority" and ticket.priority_rank < len(PRIORITIES) - 1:
        tickets.set_priority(ticket, PRIORITIES[ticket.priority_rank + 1])
    elif escalation == "reassign_lead" and ticket.team is not None and ticket.team.lead is not None:
        tickets.assign(ticket, ticket.team.lead)
    from helpdesk.sla.clocks import sync_ticket

    sync_ticket(ticket)
    on_commit(_notify, ticket.id, clock.target)
