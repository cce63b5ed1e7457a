"""What admins change about SLAs: policies, the business calendar, closures and the acknowledgement text."""

from __future__ import annotations

import re
import zoneinfo
from datetime import date, datetime

from sqlalchemy import select, update

from helpdesk.extensions import db
from helpdesk.models import AckTemplate, CalendarSettings, Closure, SlaClock, SlaPolicy, Ticket
from helpdesk.sla import policies
from helpdesk.sla.acknowledgement import DEFAULTS, PLACEHOLDERS
from helpdesk.sla.hours import HoursError, parse_hours
from helpdesk.sla.policies import PolicyError


class SettingsError(ValueError):
    """A setting that cannot be saved, with the field it concerns."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# Policies --------------------------------------------------------------------------------------------------------


def update_policy(policy: SlaPolicy, name: str, match: dict | None = None, first_response_minutes=None,
                  next_response_minutes=None, resolution_minutes=None, business_hours: bool = True,
                  escalation: str = "none") -> SlaPolicy:
    """Validate and change a policy; tickets opened from now on get the new targets."""
    values = policies.validate_policy(name, match, first_response_minutes, next_response_minutes,
                                      resolution_minutes, business_hours, escalation)
    for key, value in values.items():
        setattr(policy, key, value)
    db.session.flush()
    return policy


def delete_policy(policy: SlaPolicy) -> None:
    """Delete a policy (never the last one); its tickets keep their running clocks."""
    if len(policies.ordered()) <= 1:
        raise PolicyError("The desk needs at least one policy: edit this one instead.", "policy")
    # SQLite may not enforce ON DELETE SET NULL; say it here so both databases agree.
    db.session.execute(update(Ticket).where(Ticket.sla_policy_id == policy.id).values(sla_policy_id=None))
    db.session.execute(update(SlaClock).where(SlaClock.policy_id == policy.id).values(policy_id=None))
    db.session.delete(policy)
    db.session.flush()


def move_policy(policy: SlaPolicy, step: int) -> None:
    """Move a policy ``step`` places in the match order (-1 up, +1 down) and renumber them all."""
    order = policies.ordered()
    index = order.index(policy)
    target = max(0, min(len(order) - 1, index + step))
    order.insert(target, order.pop(index))
    for position, row in enumerate(order):
        row.position = position * 10
    db.session.flush()


# The business calendar -------------------------------------------------------------------------------------------


def validate_calendar(timezone: str, hours: str, holidays: str) -> tuple[str, str, str]:
    """Return the cleaned (timezone, hours, holidays) or raise SettingsError naming the field."""
    timezone, hours, holidays = (timezone or "").strip(), (hours or "").strip(), (holidays or "").strip().upper()
    try:
        if not timezone:
            raise ValueError
        zoneinfo.ZoneInfo(timezone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise SettingsError(f"{timezone or '(blank)'} is not an IANA time zone, e.g. America/Toronto",
                            "timezone") from None
    try:
        parse_hours(hours)
    except HoursError as exc:
        raise SettingsError(str(exc), "hours") from None
    if holidays:
        import holidays as holiday_lib

        country, _, subdiv = holidays.partition("-")
        try:
            holiday_lib.country_holidays(country, subdiv=subdiv or None)
        except (NotImplementedError, ValueError, KeyError):
            raise SettingsError(f"{holidays} is not a known country or subdivision (e.g. CA, CA-QC, US)",
                                "holidays") from None
    return timezone, hours, holidays


def save_calendar(timezone: str, hours: str, holidays: str) -> CalendarSettings:
    """Validate and store the calendar; the newest row is the one in force."""
    timezone, hours, holidays = validate_calendar(timezone, hours, holidays)
    row = CalendarSettings(timezone=timezone, hours=hours, holidays=holidays)
    db.session.add(row)
    db.session.flush()
    return row


def add_closure(first_day: date | None, last_day: date | None, reason: str = "") -> Closure:
    """Close the desk from ``first_day`` to ``last_day`` (local dates, both included)."""
    if first_day is None:
        raise SettingsError("Give the first closed day.", "first_day")
    last_day = last_day or first_day
    if last_day < first_day:
        raise SettingsError("The last day cannot be before the first.", "last_day")
    if (last_day - first_day).days > 366:
        raise SettingsError("A closure may last a year at most.", "last_day")
    closure = Closure(first_day=first_day, last_day=last_day, reason=(reason or "").strip()[:200])
    db.session.add(closure)
    db.session.flush()
    return closure


def delete_closure(closure: Closure) -> None:
    """Open the desk again on a closure's days."""
    db.session.delete(closure)
    db.session.flush()


def upcoming_closed_days(today: date, limit: int = 5) -> list[tuple[date, str]]:
    """Return the next ``limit`` public holidays and closures from ``today`` on, with their names."""
    _, _, holidays = policies.calendar_settings()
    days: dict[date, str] = {}
    if holidays:
        import holidays as holiday_lib

        country, _, subdiv = holidays.partition("-")
        found = holiday_lib.country_holidays(country, subdiv=subdiv or None, years=[today.year, today.year + 1])
        days.update({day: name for day, name in found.items() if day >= today})
    for closure in db.session.scalars(select(Closure).where(Closure.last_day >= today)):
        day = max(closure.first_day, today)
        while day <= closure.last_day and len(days) < 400:
            days[day] = closure.reason or "closed"
            day = date.fromordinal(day.toordinal() + 1)
    return sorted(days.items())[:limit]


def local_now(now: datetime) -> datetime:
    """Return ``now`` in the desk's time zone."""
    _, timezone, _ = policies.calendar_settings()
    return now.astimezone(zoneinfo.ZoneInfo(timezone))


# The acknowledgement ---------------------------------------------------------------------------------------------

LANGUAGES = tuple(DEFAULTS)


def _check_placeholders(text: str, field: str) -> None:
    unknown = sorted(set(re.findall(r"\{(\w+)\}", text)) - set(PLACEHOLDERS))
    if unknown:
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise SettingsError(f"Unknown placeholder {{{unknown[0]}}}; use {known}.", field)


def save_ack_template(language: str, subject: str, body: str) -> AckTemplate:
    """Validate and store the acknowledgement's subject and body in ``language``."""
    if language not in LANGUAGES:
        raise SettingsError(f"Language must be one of {', '.join(LANGUAGES)}.", "language")
    subject, body = (subject or "").strip(), (body or "").strip() + "\n"
    if not subject or len(subject) > 300 or "\n" in subject or "\r" in subject:
        raise SettingsError("The subject must be one line of 1 to 300 characters.", "subject")
    if not body.strip() or len(body) > 20000:
        raise SettingsError("The body must be 1 to 20000 characters.", "body")
    _check_placeholders(subject, "subject")
    _check_placeholders(body, "body")
    row = db.session.scalar(select(AckTemplate).where(AckTemplate.language == language))
    if row is None:
        row = AckTemplate(language=language, subject=subject, body=body)
        db.session.add(row)
    row.subject, row.body = subject, body
    db.session.flush()
    return row


def reset_ack_template(language: str) -> None:
    """Go back to the built-in acknowledgement text in ``language``."""
    row = db.session.scalar(select(AckTemplate).where(AckTemplate.language == language))
    if row is not None:
        db.session.delete(row)
        db.session.flush()
