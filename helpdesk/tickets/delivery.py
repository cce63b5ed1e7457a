"""Send a reply or an acknowledgement again after its delivery failed."""

from __future__ import annotations

from helpdesk import channels
from helpdesk.effects import on_commit
from helpdesk.models import Agent, Message
from helpdesk.tickets.events import record
from helpdesk.tickets.operations import TicketError


def retry_delivery(message: Message, agent: Agent | None = None) -> None:
    """Mark a failed outbound message pending again and, after the commit, queue its sending."""
    if message.internal or message.delivery_status != "failed":
        raise TicketError("Only a message whose delivery failed can be sent again.")
    ticket = message.ticket
    message.delivery_status, message.delivery_error = "pending", None
    record(ticket, "delivery_retry", agent, message=message.id)
    if (message.meta or {}).get("kind") == "acknowledgement":
        from helpdesk.sla.acknowledgement import queue_acknowledgement

        ticket.ack_status, ticket.ack_claimed_at = "pending", None
        message.meta = {**(message.meta or {}), "attempts": 0}
        on_commit(queue_acknowledgement, ticket.id)
        return
    deliver = channels.get(ticket.channel).deliver or channels.deliver_by_email
    on_commit(deliver, message.id)
