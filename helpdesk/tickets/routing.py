"""Choose the team a new ticket goes to."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk import txcache
from helpdesk.extensions import db
from helpdesk.models import Team, Ticket


def route(ticket: Ticket) -> Team | None:
    """Return the team for a new ticket: its account owner's, else the channel's.

    A customer with an account owner stays with that owner's team, so one
    group sees all of that customer's contact; otherwise the first team (by
    name) that takes the ticket's channel.
    """
    owner = ticket.customer.account_owner
    if owner is not None and owner.teams:
        return owner.teams[0]
    teams = txcache.cached("teams", (Team,), lambda: list(db.session.scalars(select(Team).order_by(Team.name))))
    for team in teams:
        if ticket.channel in team.channel_list:
            return team
    return None
