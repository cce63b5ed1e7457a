"""Agents, the teams they work in, and their API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from helpdesk.extensions import db
from helpdesk.models.base import UTCDateTime, utcnow

ROLES = ("agent", "admin")
PRESENCES = ("online", "away", "offline")

team_member = Table(
    "team_member",
    db.metadata,
    Column("team_id", ForeignKey("team.id", ondelete="CASCADE"), primary_key=True),
    Column("agent_id", ForeignKey("agent.id", ondelete="CASCADE"), primary_key=True),
)


class Agent(UserMixin, db.Model):
    """A person who works tickets in the console."""

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-case; the sign-in name.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="agent")
    presence: Mapped[str] = mapped_column(String(16), default="offline")
    #: Concurrent chats this agent accepts before routing skips them.
    max_chats: Mapped[int] = mapped_column(default=3)
    active: Mapped[bool] = mapped_column(default=True)
    #: Bumped to sign the agent out everywhere (password change, deactivation).
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    teams: Mapped[list[Team]] = relationship(secondary=team_member, back_populates="members")

    @property
    def is_admin(self) -> bool:
        """Say whether this agent may reach the admin pages."""
        return self.role == "admin"

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:
        """Return the session id; a bumped version invalidates old sessions."""
        return f"{self.id}:{self.session_version}"

    def set_password(self, password: str) -> None:
        """Hash and store a new password."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Say whether ``password`` is this agent's."""
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<Agent {self.email}>"


class Team(db.Model):
    """A group of agents that tickets are routed to."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(String(400), default="")
    #: Channels this team takes new tickets from, comma-separated ("email,web").
    channels: Mapped[str] = mapped_column(String(120), default="")
    #: Tickets of a restricted team are visible only to its members and admins.
    restricted: Mapped[bool] = mapped_column(default=False)
    #: Receives escalations when the team's tickets breach their SLA.
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))

    members: Mapped[list[Agent]] = relationship(secondary=team_member, back_populates="teams")
    lead: Mapped[Agent | None] = relationship(foreign_keys=[lead_id])

    @property
    def channel_list(self) -> list[str]:
        """Return the channels this team takes, as a list."""
        return [c for c in self.channels.split(",") if c]


class ApiToken(db.Model):
    """A revocable API token; only its SHA-256 is stored."""

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The first characters, shown so an admin can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agent: Mapped[Agent] = relationship()

    @staticmethod
    def digest(token: str) -> str:
        """Return the stored form of ``token``."""
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, agent: Agent, name: str = "") -> tuple[ApiToken, str]:
        """Create a token for ``agent``; return the row and the secret shown once."""
        secret = "hd_" + secrets.token_urlsafe(32)
        return cls(agent=agent, name=name, token_hash=cls.digest(secret), prefix=secret[:10]), secret
