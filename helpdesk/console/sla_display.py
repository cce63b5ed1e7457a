"""SLA badges and per-target rows: how much time is left, in the time the policy counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from helpdesk.console import bp
from helpdesk.extensions import db
from helpdesk.models import SlaClock, Ticket, TicketEvent
from helpdesk.models.base import utcnow
from helpdesk.models.sla import TARGETS
from helpdesk.sla import policies
from helpdesk.sla.calendar import business_minutes_between

TARGET_LABELS = {"first_response": "First response", "next_response": "Next response", "resolution": "Resolution"}
WALL_DAY = 24 * 60


@dataclass(frozen=True)
class Badge:
    """One SLA state as shown: its words, its colour (ok, warn, breach, paused, met) and a tooltip."""

    text: str
    tone: str
    title: str = ""


@dataclass(frozen=True)
class ClockRow:
    """One target of a ticket on its page: its state and when it is or was due."""

    target: str
    label: str
    badge: Badge
    due_at: datetime | None
    policy: str | None
    business: bool


def duration(minutes: float, day: int = WALL_DAY) -> str:
    """Return ``minutes`` as "45m", "2h 15m" or "3d 4h", where a day is ``day`` minutes."""
    total = int(max(0.0, minutes))
    if total < 1:
        return "<1m"
    if total < 60:
        return f"{total}m"
    if total < day:
        hours, rest = divmod(total, 60)
        return f"{hours}h {rest}m" if rest else f"{hours}h"
    days, rest = divmod(total, day)
    hours = rest // 60
    return f"{days}d {hours}h" if hours else f"{days}d"


def since(moment: datetime, now: datetime) -> str:
    """Return how long ago ``moment`` was, in its largest unit ("1h ago", "just now")."""
    minutes = int((now - moment).total_seconds() // 60)
    for size, unit in ((WALL_DAY, "d"), (60, "h"), (1, "m")):
        if minutes >= size:
            return f"{minutes // size}{unit} ago"
    return "just now"


class _Calendars:
    """The business calendar and its day length, built once per page and only if a business clock needs it."""

    def __init__(self):
        self._business = None

    def minutes(self, business: bool, start: datetime, end: datetime) -> tuple[float, int]:
        """Return (minutes between start and end, minutes in a day) in the clock's kind of time."""
        if not business:
            return (end - start).total_seconds() / 60, WALL_DAY
        if self._business is None:
            calendar = policies.calendar_for(True)
            self._business = calendar, policies.minutes_per_business_day(calendar)
        calendar, day = self._business
        return business_minutes_between(calendar, start, end), day


def warned(clock: SlaClock, now: datetime) -> bool:
    """Say whether the clock has passed its warning point."""
    return clock.warned_at is not None or (clock.warn_at is not None and clock.warn_at <= now)


def _running_badge(clock: SlaClock | None, due_at: datetime, now: datetime, calendars: _Calendars) -> Badge:
    label = TARGET_LABELS.get(clock.target, clock.target) if clock is not None else "SLA"
    if due_at <= now:
        return Badge("Due now", "breach", f"{label} was due {due_at:%Y-%m-%d %H:%M} UTC")
    business = clock.business if clock is not None else False
    left, day = calendars.minutes(business, now, due_at)
    tone = "warn" if clock is not None and warned(clock, now) else "ok"
    kind = "business time" if business else "around the clock"
    return Badge(f"{duration(left, day)} left", tone, f"{label} due {due_at:%Y-%m-%d %H:%M} UTC ({kind})")


def _breached_badge(ticket: Ticket, now: datetime) -> Badge:
    what = ", ".join(TARGET_LABELS.get(t, t).lower() for t in ticket.sla_breaches or []) or "a target"
    return Badge(f"Breached {since(ticket.sla_breached_at, now)}", "breach",
                 f"Breached {what} at {ticket.sla_breached_at:%Y-%m-%d %H:%M} UTC")


def _running_clocks(ticket_ids: list[int]) -> dict[int, list[SlaClock]]:
    if not ticket_ids:
        return {}
    found: dict[int, list[SlaClock]] = {}
    for clock in db.session.scalars(select(SlaClock).where(
            SlaClock.ticket_id.in_(ticket_ids), SlaClock.segment_started_at.isnot(None),
            SlaClock.fulfilled_at.is_(None), SlaClock.breached_at.is_(None))):
        found.setdefault(clock.ticket_id, []).append(clock)
    return found


def _next_clock(ticket: Ticket, clocks: list[SlaClock]) -> SlaClock | None:
    """Return the running clock that sets the ticket's next due time."""
    return next((c for c in clocks if c.due_at == ticket.sla_next_due_at), min(
        (c for c in clocks if c.due_at), key=lambda c: c.due_at, default=None))


def list_badges(rows: list[Ticket], now: datetime | None = None) -> dict[int, Badge]:
    """Return the SLA badge of each open ticket in a list page, with one query for the whole page."""
    now = now or utcnow()
    calendars = _Calendars()
    clocks = _running_clocks([t.id for t in rows if t.is_open and t.sla_next_due_at and not t.sla_breached_at])
    badges: dict[int, Badge] = {}
    for ticket in rows:
        if not ticket.is_open:
            continue
        if ticket.sla_breached_at is not None:
            badges[ticket.id] = _breached_badge(ticket, now)
        elif ticket.sla_next_due_at is not None:
            clock = _next_clock(ticket, clocks.get(ticket.id, []))
            badges[ticket.id] = _running_badge(clock, ticket.sla_next_due_at, now, calendars)
    return badges


def _row(clock: SlaClock, now: datetime, calendars: _Calendars) -> ClockRow:
    label = TARGET_LABELS.get(clock.target, clock.target)
    if clock.fulfilled_at is not None:
        late = clock.breached_at is not None
        badge = Badge("Met late" if late else "Met", "breach" if late else "met",
                      f"Met {clock.fulfilled_at:%Y-%m-%d %H:%M} UTC")
    elif clock.breached_at is not None:
        badge = Badge(f"Breached {since(clock.breached_at, now)}", "breach",
                      f"Was due {clock.due_at:%Y-%m-%d %H:%M} UTC" if clock.due_at else "")
    elif clock.segment_started_at is None:
        day = WALL_DAY if not clock.business else calendars.minutes(True, now, now)[1]
        left = clock.target_minutes - clock.elapsed_minutes
        badge = Badge(f"Paused, {duration(left, day)} left", "paused", "Counts again when the ticket leaves pending")
    else:
        badge = _running_badge(clock, clock.due_at, now, calendars)
    due = clock.due_at if clock.fulfilled_at is None else None
    return ClockRow(clock.target, label, badge, due, clock.policy.name if clock.policy else None, clock.business)


def ticket_sla(ticket: Ticket, now: datetime | None = None) -> tuple[Badge | None, list[ClockRow]]:
    """Return the ticket's headline SLA badge and one row per target it has a clock for."""
    from helpdesk.sla.clocks import clocks_of

    now = now or utcnow()
    calendars = _Calendars()
    clocks = clocks_of(ticket)
    rows = [_row(clocks[t], now, calendars) for t in TARGETS if t in clocks]
    badge = None
    if ticket.is_open and ticket.sla_breached_at is not None:
        badge = _breached_badge(ticket, now)
    elif ticket.is_open and ticket.sla_next_due_at is not None:
        running = [c for c in clocks.values() if c.running and c.breached_at is None]
        badge = _running_badge(_next_clock(ticket, running), ticket.sla_next_due_at, now, calendars)
    elif ticket.is_open and any(r.badge.tone == "paused" for r in rows):
        badge = Badge("SLA paused", "paused", "Pending: the clocks wait for the customer")
    return badge, rows


def _when(value) -> str:
    try:
        return f"{datetime.fromisoformat(value):%Y-%m-%d %H:%M} UTC"
    except (TypeError, ValueError):
        return "?"


def _num(value) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _target(data: dict) -> str:
    return TARGET_LABELS.get(data.get("target"), str(data.get("target", "?")))


_SLA_TEXT = {
    "sla.start": lambda d: f"{_target(d)} started under {d.get('policy')}: {_num(d.get('minutes'))} "
                           f"{'business' if d.get('business_hours') else 'wall-clock'} minutes, "
                           f"due {_when(d.get('due_at'))}",
    "sla.fulfil": lambda d: f"{_target(d)} met ({d.get('why')}) after {_num(d.get('used_minutes'))} minutes"
                            + (", late" if d.get("breached") else ""),
    "sla.pause": lambda d: f"{_target(d)} paused after {_num(d.get('used_minutes'))} minutes",
    "sla.resume": lambda d: f"{_target(d)} resumed, due {_when(d.get('due_at'))}",
    "sla.warn": lambda d: f"{_target(d)} warning, due {_when(d.get('due_at'))}",
    "sla.breach": lambda d: f"{_target(d)} breached (was due {_when(d.get('due_at'))}, policy {d.get('policy')})",
    "sla.policy": lambda d: f"policy changed to {d.get('to')}",
    "sla.retarget": lambda d: f"{_target(d)} re-targeted to {_num(d.get('minutes'))} minutes, "
                              f"due {_when(d.get('due_at'))}",
    "acknowledged": lambda d: f"acknowledgement sent, promising {_when(d.get('promised'))}",
    "acknowledgement_skipped": lambda d: f"acknowledgement skipped: {d.get('reason')}",
}


def sla_events(events: list[TicketEvent]) -> list[TicketEvent]:
    """Return the events that explain the ticket's due times."""
    return [e for e in events if e.kind in _SLA_TEXT]


@bp.app_template_filter("sla_event_text")
def sla_event_text(event: TicketEvent) -> str:
    """Return one SLA event as a sentence."""
    return _SLA_TEXT[event.kind](event.data or {}) if event.kind in _SLA_TEXT else event.kind
