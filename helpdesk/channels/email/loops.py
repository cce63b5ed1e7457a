"""Keep automatic mail from looping: never to our own addresses, and a per-recipient budget.

Every automatic mail we send (acknowledgements, surveys, transcripts) asks
here first, so a customer's auto-responder and ours cannot answer each other
more than AUTO_MAIL_PER_HOUR times an hour, whatever mail it is.
"""

from __future__ import annotations

from flask import current_app

from helpdesk.models.base import utcnow
from workers.queues import redis_connection

#: Automatic mails one address may receive per hour, whatever sends them.
AUTO_MAIL_PER_HOUR = 10


def own_addresses() -> set[str]:
    """Return the addresses mail from (or to) which must never be answered automatically."""
    return {current_app.config["SUPPORT_ADDRESS"].lower()}


def take_auto_mail_budget(address: str) -> bool:
    """Count one automatic mail to ``address``; say whether it is within this hour's budget."""
    return take_auto_mail_budgets([address])[0]


def take_auto_mail_budgets(addresses: list[str]) -> list[bool]:
    """Count one automatic mail to each of ``addresses`` (in one round trip); say which are within budget.

    An address listed twice counts twice, in order.
    """
    if not addresses:
        return []
    hour = f"{utcnow():%Y%m%d%H}"
    pipe = redis_connection().pipeline(transaction=False)
    for address in addresses:
        key = f"helpdesk:auto-mail:{address.lower()}:{hour}"
        pipe.incr(key)
        pipe.expire(key, 3600)
    counts = pipe.execute()[::2]
    return [count <= AUTO_MAIL_PER_HOUR for count in counts]
