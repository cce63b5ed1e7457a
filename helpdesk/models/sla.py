"""SLA policies, the clocks they run on tickets, and the business calendar's settings."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.extensions import db
from helpdesk.models.base import UTCDateTime, utcnow

TARGETS = ("first_response", "next_response", "resolution")
_RUNNING = "segment_started_at IS NOT NULL AND fulfilled_at IS NULL"
_PENDING_DUE = text(f"{_RUNNING} AND breached_at IS NULL")
_PENDING_WARN = text(f"{_RUNNING} AND warned_at IS NULL")
ESCALATIONS = ("none", "raise_priority", "reassign_lead")


class SlaPolicy(db.Model):
    """Reply and resolution targets for the tickets it matches; the first match wins."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    #: Match order: lower first.
    position: Mapped[int] = mapped_column(default=0, index=True)
    #: Each None matches anything; all None is a default policy.
    match_priority: Mapped[str | None] = mapped_column(String(12))
    match_channel: Mapped[str | None] = mapped_column(String(12))
    match_vip: Mapped[bool | None] = mapped_column()
    #: Minutes; fractions allowed (a chat's first reply can be due in 30 seconds).
    first_response_minutes: Mapped[float | None] = mapped_column()
    next_response_minutes: Mapped[float | None] = mapped_column()
    resolution_minutes: Mapped[float | None] = mapped_column()
    #: True: minutes count in the business calendar; False: around the clock.
    business_hours: Mapped[bool] = mapped_column(default=True)
    #: What a breach does besides notifying: none, raise_priority, reassign_lead.
    escalation: Mapped[str] = mapped_column(String(20), default="none")
    #: Warn (amber) once this share of a target has been used.
    warn_percent: Mapped[int] = mapped_column(default=75)

    def minutes_for(self, target: str) -> float | None:
        """Return the policy's target in minutes for ``target`` (None: no target)."""
        return getattr(self, f"{target}_minutes")

    def matches(self, priority: str, channel: str, vip: bool) -> bool:
        """Say whether a ticket with these properties falls under this policy."""
        return (
            (self.match_priority is None or self.match_priority == priority)
            and (self.match_channel is None or self.match_channel == channel)
            and (self.match_vip is None or self.match_vip == vip)
        )


class SlaClock(db.Model):
    """One target running on one ticket: when it started, paused, is due, was met or breached."""

    __table_args__ = (
        UniqueConstraint("ticket_id", "target"),
        # Only clocks still running and unhandled: met and breached clocks pile up forever,
        # and the timer loop asks for the earliest of the rest several times a second.
        Index("ix_sla_clock_pending_due", "due_at", postgresql_where=_PENDING_DUE, sqlite_where=_PENDING_DUE),
        Index("ix_sla_clock_pending_warn", "warn_at", postgresql_where=_PENDING_WARN, sqlite_where=_PENDING_WARN),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(20))
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policy.id", ondelete="SET NULL"))
    business: Mapped[bool] = mapped_column(default=True)
    target_minutes: Mapped[float]
    #: Minutes (business or wall) used in earlier running segments, before the current one.
    elapsed_minutes: Mapped[float] = mapped_column(default=0.0)
    #: When the current running segment began; None while paused or stopped.
    segment_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    policy: Mapped[SlaPolicy | None] = relationship()

    @property
    def running(self) -> bool:
        """Say whether the clock is counting now."""
        return self.segment_started_at is not None and self.fulfilled_at is None


class CalendarSettings(db.Model):
    """The business calendar as admins edited it; absent, the environment's defaults apply."""

    id: Mapped[int] = mapped_column(primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    hours: Mapped[str] = mapped_column(String(400))
    holidays: Mapped[str] = mapped_column(String(20), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Closure(db.Model):
    """Days an admin closed the desk (a company event, an office move)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")


class AckTemplate(db.Model):
    """The acknowledgement email in one language, as admins wrote it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(8), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
