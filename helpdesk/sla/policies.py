"""SLA policies: the calendar they count in, the defaults, matching and validation."""

from __future__ import annotations

import functools

from flask import current_app
from sqlalchemy import false, func, select, text, update

from helpdesk import txcache
from helpdesk.extensions import db
from helpdesk.models import CalendarSettings, Closure, SlaPolicy, Ticket
from helpdesk.models.sla import ESCALATIONS
from helpdesk.models.ticket import CHANNELS, PRIORITIES
from helpdesk.sla.calendar import BusinessCalendar
from helpdesk.sla.hours import parse_hours

ALWAYS = BusinessCalendar(parse_hours("24/7"))


class PolicyError(ValueError):
    """A policy that cannot be saved, with a message naming the field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def calendar_settings() -> tuple[str, str, str]:
    """Return (hours, timezone, holidays): an admin's edit, else the environment's defaults."""
    row = db.session.scalar(select(CalendarSettings).order_by(CalendarSettings.id.desc()).limit(1))
    if row is not None:
        return row.hours, row.timezone, row.holidays
    config = current_app.config
    return config["BUSINESS_HOURS"], config["TIMEZONE"], config["HOLIDAYS"]


@functools.lru_cache(maxsize=8)
def _build(hours: str, timezone: str, holidays: str, closures: tuple) -> BusinessCalendar:
    return BusinessCalendar.build(hours, timezone, holidays, closures)


def _load_calendar() -> BusinessCalendar:
    closures = tuple(db.session.execute(select(Closure.first_day, Closure.last_day).order_by(Closure.id)).all())
    return _build(*calendar_settings(), tuple(tuple(c) for c in closures))


def business_calendar() -> BusinessCalendar:
    """Return the desk's business calendar as configured now (read once per transaction)."""
    return txcache.cached("sla.calendar", (CalendarSettings, Closure), _load_calendar)


def calendar_for(business: bool) -> BusinessCalendar:
    """Return the business calendar, or the around-the-clock one."""
    return business_calendar() if business else ALWAYS


def minutes_per_business_day(calendar: BusinessCalendar) -> int:
    """Return the average open minutes of an open weekday (what "one business day" means)."""
    if calendar.hours.always_open:
        return 24 * 60
    per_day: dict[int, int] = {}
    for period in calendar.hours.periods:
        per_day[period.weekday] = per_day.get(period.weekday, 0) + period.end - period.start
    return round(sum(per_day.values()) / len(per_day)) if per_day else 8 * 60


def default_policies() -> list[dict]:
    """Return the policies a new desk starts with, tightest first."""
    day = minutes_per_business_day(business_calendar())
    ack_days = current_app.config["ACK_BUSINESS_DAYS"]
    return [
        dict(name="Urgent", match_priority="urgent", first_response_minutes=60, next_response_minutes=120,
             resolution_minutes=8 * 60, business_hours=False, escalation="reassign_lead"),
        dict(name="Chat", match_channel="chat", first_response_minutes=2, next_response_minutes=5,
             resolution_minutes=None, business_hours=False, escalation="none"),
        dict(name="VIP", match_vip=True, first_response_minutes=4 * 60, next_response_minutes=4 * 60,
             resolution_minutes=3 * day, business_hours=True, escalation="raise_priority"),
        dict(name="Default", first_response_minutes=ack_days * day, next_response_minutes=day,
             resolution_minutes=10 * day, business_hours=True, escalation="none"),
    ]


#: The PostgreSQL advisory lock a transaction takes before it creates the default policies.
DEFAULTS_LOCK = 0x48445F534C41  # "HD_SLA"


def _policy_count() -> int:
    return db.session.scalar(select(func.count(SlaPolicy.id)))


def _one_at_a_time() -> None:
    """Make other transactions that get here wait until this one ends."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DEFAULTS_LOCK})
    else:  # SQLite: a write, even of no row, takes the database's write lock until the commit
        connection.execute(update(SlaPolicy).where(false()).values(position=SlaPolicy.position))


def ensure_defaults() -> None:
    """Create the default policies when there are none (a new desk, a fresh test database).

    A new desk's first requests often come together (a chat widget's first
    visitors, a mailbox's backlog), and each found no policy and created the
    defaults: the chat benchmark's desk had every default twelve times. The
    transactions that find none now take turns and look again once it is
    their turn, so the defaults are created once.
    """
    if _policy_count():
        return
    _one_at_a_time()
    if _policy_count():
        return
    for position, values in enumerate(default_policies()):
        db.session.add(SlaPolicy(position=position * 10, **values))
    db.session.flush()


def _load_ordered() -> list[SlaPolicy]:
    found = list(db.session.scalars(select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id)))
    if found:
        return found
    ensure_defaults()
    return list(db.session.scalars(select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id)))


def ordered() -> list[SlaPolicy]:
    """Return every policy in match order (read once per transaction; defaults created when there are none)."""
    return list(txcache.cached("sla.policies", (SlaPolicy,), _load_ordered))


def forget() -> None:
    """Make the next ordered() and business_calendar() read the database again."""
    txcache.forget("sla.policies")
    txcache.forget("sla.calendar")


def match(ticket: Ticket) -> SlaPolicy | None:
    """Return the first policy that matches ``ticket``."""
    vip = bool(ticket.customer and ticket.customer.vip)
    return next((p for p in ordered() if p.matches(ticket.priority, ticket.channel, vip)), None)


def _minutes(value, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.01 <= value <= 525_600:
        raise PolicyError(f"{field} must be a number of minutes from 0.01 to 525600, or null", field)
    return value


def validate_policy(name: str, match: dict | None = None, first_response_minutes=None, next_response_minutes=None,
                    resolution_minutes=None, business_hours: bool = True, escalation: str = "none",
                    position: int | None = None) -> dict:
    """Check a policy's fields and return them as SlaPolicy column values, or raise PolicyError."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 120:
        raise PolicyError("name must be 1 to 120 characters", "name")
    match = match or {}
    if not isinstance(match, dict) or set(match) - {"priority", "channel", "vip"}:
        raise PolicyError("match may only hold priority, channel and vip", "match")
    if match.get("priority") is not None and match["priority"] not in PRIORITIES:
        raise PolicyError(f"match.priority must be one of {', '.join(PRIORITIES)}", "match")
    if match.get("channel") is not None and match["channel"] not in CHANNELS:
        raise PolicyError(f"match.channel must be one of {', '.join(CHANNELS)}", "match")
    if match.get("vip") is not None and not isinstance(match["vip"], bool):
        raise PolicyError("match.vip must be true, false or null", "match")
    if not isinstance(business_hours, bool):
        raise PolicyError("business_hours must be true or false", "business_hours")
    if escalation not in ESCALATIONS:
        raise PolicyError(f"escalation must be one of {', '.join(ESCALATIONS)}", "escalation")
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
        raise PolicyError("position must be a whole number", "position")
    return dict(
        name=name, match_priority=match.get("priority"), match_channel=match.get("channel"),
        match_vip=match.get("vip"), business_hours=business_hours, escalation=escalation,
        first_response_minutes=_minutes(first_response_minutes, "first_response_minutes"),
        next_response_minutes=_minutes(next_response_minutes, "next_response_minutes"),
        resolution_minutes=_minutes(resolution_minutes, "resolution_minutes"),
    )


def create_policy(name: str, match: dict | None = None, first_response_minutes=None, next_response_minutes=None,
                  resolution_minutes=None, business_hours: bool = True, position: int | None = None,
                  escalation: str = "none") -> SlaPolicy:
    """Validate and add a policy; without ``position`` it goes just before the catch-all default."""
    values = validate_policy(name, match, first_response_minutes, next_response_minutes, resolution_minutes,
                             business_hours, escalation, position)
    existing = ordered()
    if position is None:
        catch_all = [p for p in existing if p.match_priority is p.match_channel is p.match_vip is None]
        position = (catch_all[0].position - 1) if catch_all else (existing[-1].position + 10 if existing else 0)
    policy = SlaPolicy(position=position, **values)
    db.session.add(policy)
    db.session.flush()
    forget()
    return policy
