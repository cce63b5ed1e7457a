"""Business time: add it to an instant and measure it between two instants.

Pure functions of an explicit calendar and explicit instants (no clock, no
database), so they are tested directly. Opening periods are defined in the
desk's local time and converted to UTC day by day, which keeps them right
across DST changes: a 09:00-17:00 day is eight hours whatever the offset,
and a period that spans the change gains or loses the hour it really does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from helpdesk.sla.hours import WeeklyHours, parse_hours

#: How far ahead to look for opening hours before deciding there are none.
HORIZON_DAYS = 3 * 366


class NeverOpen(ValueError):
    """The calendar has no opening hours within the horizon."""


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekly hours in a time zone, minus holidays and closures (local dates)."""

    hours: WeeklyHours
    timezone: str = "UTC"
    closed_dates: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self):
        # Due times are computed for every ticket and clock: each date's periods are converted once.
        object.__setattr__(self, "_days", {})

    @classmethod
    def build(cls, hours: str, timezone: str = "UTC", holidays: str = "", closures=(),
              years: range | None = None) -> BusinessCalendar:
        """Return a calendar from the settings' text forms.

        ``holidays`` is a country code with an optional subdivision (``CA-QC``);
        ``closures`` is an iterable of (first date, last date) pairs.
        """
        closed: set[date] = set()
        if holidays:
            import holidays as holiday_lib

            country, _, subdiv = holidays.partition("-")
            this_year = datetime.now(UTC).year
            span = years or range(this_year - 2, this_year + 4)
            closed.update(holiday_lib.country_holidays(country, subdiv=subdiv or None, years=span).keys())
        for first, last in closures:
            day = first
            while day <= last:
                closed.add(day)
                day += timedelta(days=1)
        return cls(parse_hours(hours), timezone, frozenset(closed))

    @property
    def zone(self) -> ZoneInfo:
        """Return the calendar's time zone."""
        return ZoneInfo(self.timezone)

    def _local(self, day: date, minutes: int) -> datetime:
        moment = datetime.combine(day, time()) + timedelta(minutes=minutes)
        return moment.replace(tzinfo=self.zone).astimezone(UTC)

    def intervals(self, start: datetime, *, reverse: bool = False) -> Iterator[tuple[datetime, datetime]]:
        """Yield the open intervals (UTC) from the one containing ``start`` on, in order."""
        first_day = start.astimezone(self.zone).date() - timedelta(days=1)  # periods spanning midnight
        for offset in range(HORIZON_DAYS):
            for opens, closes in self._day(first_day + timedelta(days=offset)):
                if closes > start and closes > opens:
                    yield opens, closes

    def _day(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Return the opening periods of a local date in UTC, converted once per calendar."""
        periods = self._days.get(day)
        if periods is None:
            periods = self._days[day] = () if day in self.closed_dates else tuple(
                (self._local(day, period.start), self._local(day, period.end))
                for period in self.hours.periods if period.weekday == day.weekday())
        return periods

    def is_open(self, instant: datetime) -> bool:
        """Say whether the desk is open at ``instant``."""
        if self.hours.always_open:
            return True
        opens, _ = next(self.intervals(instant), (None, None))
        return opens is not None and opens <= instant


def add_business_time(calendar: BusinessCalendar, start: datetime, minutes: float) -> datetime:
    """Return the instant ``minutes`` of business time after ``start``.

    Starting outside business hours counts from the next opening. Adding zero
    to a closed instant gives the next opening, since nothing can be due
    while the desk is closed.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if calendar.hours.always_open:
        return start + timedelta(minutes=minutes)
    remaining = timedelta(minutes=max(0.0, minutes))
    for opens, closes in calendar.intervals(start):
        begin = max(opens, start)
        available = closes - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise NeverOpen("no opening hours in the next three years")


def business_minutes_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Return the business minutes from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    if end < start:
        return -business_minutes_between(calendar, end, start)
    if calendar.hours.always_open:
        return (end - start).total_seconds() / 60
    total = timedelta()
    for opens, closes in calendar.intervals(start):
        if opens >= end:
            break
        total += min(closes, end) - max(opens, start)
    return total.total_seconds() / 60
