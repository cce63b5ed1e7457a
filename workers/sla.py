"""SLA jobs: timers, the per-minute sweep, and acknowledgements."""

from __future__ import annotations

import logging

from helpdesk.extensions import db
from helpdesk.models.base import utcnow
from helpdesk.sla import acknowledgement, clocks
from workers.app import get_app
from workers.queues import enqueue

log = logging.getLogger(__name__)


def check_clock(ticket_id: int, target: str) -> str:
    """Warn or breach one clock whose time has come; a no-op when it was met or moved."""
    with get_app().app_context():
        result = clocks.check(ticket_id, target)
        db.session.commit()
        return result


def send_acknowledgement(ticket_id: int) -> str:
    """Send a ticket's acknowledgement if it is still owed."""
    with get_app().app_context():
        return acknowledgement.send(ticket_id)


def sweep() -> dict[str, int]:
    """Handle every warning, breach and acknowledgement that is due but was missed.

    Runs every minute, so a flushed or restarted Redis, or a dead worker,
    delays a timer by a minute at most and loses nothing.
    """
    with get_app().app_context():
        now = utcnow()
        handled = {"breached": 0, "warned": 0, "acknowledgements": 0}
        for ticket_id, target in clocks.due_clocks(now):
            result = clocks.check(ticket_id, target, now)
            db.session.commit()
            if result in ("breached", "warned"):
                handled[result] += 1
        for ticket_id in acknowledgement.owed(now):
            enqueue("workers.sla.send_acknowledgement", ticket_id, queue_name="sla", job_id=f"ack-{ticket_id}")
            handled["acknowledgements"] += 1
        if any(handled.values()):
            log.info("sweep: %s", handled)
        return handled
