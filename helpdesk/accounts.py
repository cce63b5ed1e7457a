"""Create and change agents and teams: the service the console and CLI call."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import Agent, Team
from helpdesk.models.agent import PRESENCES, ROLES
from helpdesk.tickets.identities import InvalidIdentity, normalize_email

MIN_PASSWORD = 8


class AccountError(ValueError):
    """A change to an agent or team that cannot be made."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def save_agent(email: str, name: str, password: str | None = None, role: str = "agent",
               agent: Agent | None = None) -> Agent:
    """Create an agent, or update ``agent`` (or the one with ``email``)."""
    try:
        email = normalize_email(email)
    except InvalidIdentity:
        raise AccountError(f"{email!r} is not an email address", "email") from None
    name = (name or "").strip()
    if not name:
        raise AccountError("an agent needs a name", "name")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}", "role")
    same_email = db.session.scalar(select(Agent).where(Agent.email == email))
    if agent is None:
        agent = same_email
    elif same_email is not None and same_email.id != agent.id:
        raise AccountError(f"{email} belongs to another agent", "email")
    if agent is None:
        if not password:
            raise AccountError("a new agent needs a password", "password")
        agent = Agent(email=email, name=name, role=role, password_hash="")
        db.session.add(agent)
    agent.email, agent.name, agent.role = email, name, role
    if password:
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password needs at least {MIN_PASSWORD} characters", "password")
        if agent.password_hash:
            agent.session_version += 1  # a new password signs out every old session
        agent.set_password(password)
    return agent


def set_active(agent: Agent, active: bool) -> None:
    """Deactivate (sign out everywhere) or reactivate an agent."""
    if agent.active != active:
        agent.active = active
        agent.session_version += 1


def set_presence(agent: Agent, presence: str) -> None:
    """Set an agent's presence: online, away or offline."""
    if presence not in PRESENCES:
        raise AccountError(f"presence must be one of {', '.join(PRESENCES)}", "presence")
    agent.presence = presence


def save_team(name: str, description: str = "", channels: list[str] | None = None, restricted: bool = False,
              members: list[Agent] | None = None, lead: Agent | None = None, team: Team | None = None) -> Team:
    """Create or update a team."""
    from helpdesk.models.ticket import CHANNELS

    name = (name or "").strip()
    if not name:
        raise AccountError("a team needs a name", "name")
    clash = db.session.scalar(select(Team).where(Team.name == name))
    if clash is not None and clash is not team:
        raise AccountError(f"there is already a team called {name}", "name")
    unknown = set(channels or []) - set(CHANNELS)
    if unknown:
        raise AccountError(f"unknown channel(s): {', '.join(sorted(unknown))}", "channels")
    if team is None:
        team = Team(name=name)
        db.session.add(team)
    team.name, team.description, team.restricted = name, (description or "").strip(), restricted
    team.channels = ",".join(c for c in CHANNELS if c in (channels or []))
    if members is not None:
        team.members = members
    team.lead = lead
    return team
