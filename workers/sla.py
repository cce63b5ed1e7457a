"""SLA jobs: batch checks at due times, the per-minute sweep, and acknowledgements."""

from __future__ import annotations

import logging

from helpdesk.sla import acknowledgement, timers
from workers.app import get_app

log = logging.getLogger(__name__)


def check_due() -> dict[str, int]:
    """Warn and breach every clock whose time has come (queued for each second something is due).

    Stands aside while a worker's timer loop leads: it has handled them already,
    more punctually, and a second checker would only contend for the same rows.
    """
    with get_app().app_context():
        if timers.leader_alive():
            return {}
        return timers.handle_due()


def send_acknowledgements() -> dict[str, int]:
    """Send every acknowledgement still owed, one after another on one SMTP connection."""
    with get_app().app_context():
        return acknowledgement.send_owed()


def sweep() -> dict[str, int]:
    """Handle every warning, breach and acknowledgement that is due but was missed.

    Runs every minute, so a flushed or restarted Redis, or a dead worker,
    delays a timer by a minute at most and loses nothing.
    """
    with get_app().app_context():
        handled = timers.handle_due()
        handled.update(acknowledgement.send_owed())
        if any(handled.values()):
            log.info("sweep: %s", handled)
        return handled
