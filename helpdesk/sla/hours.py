"""Parse the weekly business hours written as in ``HELPDESK_BUSINESS_HOURS``.

The format is a ``;``-separated list of ``<days> <periods>`` clauses, where
``<days>`` is a day (``Mon``) or a range (``Mon-Fri``, ``Sat-Mon``) and
``<periods>`` a ``,``-separated list of ``HH:MM-HH:MM``. A period whose end is
not after its start runs past midnight into the next day. ``24/7`` means
always open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PERIOD = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class HoursError(ValueError):
    """A business-hours string that cannot be understood."""


@dataclass(frozen=True)
class Period:
    """One opening period on a weekday, in minutes after that day's midnight."""

    weekday: int  #: 0 = Monday
    start: int  #: minutes after midnight
    end: int  #: minutes after the same midnight; may exceed 1440 past midnight


@dataclass(frozen=True)
class WeeklyHours:
    """The opening periods of a week; ``always_open`` for around-the-clock."""

    periods: tuple[Period, ...]
    always_open: bool = False

    def __str__(self) -> str:
        if self.always_open:
            return "24/7"
        clauses = []
        for day in range(7):
            spans = [p for p in self.periods if p.weekday == day]
            if spans:
                text = ",".join(f"{_hhmm(p.start)}-{_hhmm(p.end % 1440)}" for p in spans)
                clauses.append(f"{DAYS[day].title()} {text}")
        return "; ".join(clauses)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _day(name: str) -> int:
    try:
        return DAYS.index(name.strip().lower()[:3]) if len(name.strip()) >= 3 else -1
    except ValueError:
        return -1


def _days(text: str) -> list[int]:
    first, _, last = text.partition("-")
    start, end = _day(first), _day(last or first)
    if start < 0 or end < 0:
        raise HoursError(f"unknown day in {text!r} (use Mon, Tue, ... Sun)")
    return [(start + i) % 7 for i in range((end - start) % 7 + 1)]


def _minutes(hour: str, minute: str, text: str) -> int:
    h, m = int(hour), int(minute)
    if h > 24 or m > 59 or (h == 24 and m):
        raise HoursError(f"bad time in {text!r}")
    return h * 60 + m


def parse_hours(text: str) -> WeeklyHours:
    """Return the weekly hours described by ``text`` or raise HoursError."""
    text = (text or "").strip()
    if text.lower() in ("24/7", "always"):
        return WeeklyHours(periods=(), always_open=True)
    if not text:
        raise HoursError("empty; write e.g. 'Mon-Fri 09:00-17:00' or '24/7'")
    periods: list[Period] = []
    for clause in filter(None, (c.strip() for c in text.split(";"))):
        days_text, _, spans_text = clause.partition(" ")
        if not spans_text.strip():
            raise HoursError(f"no hours in {clause!r}")
        for day in _days(days_text):
            for span in spans_text.replace(" ", "").split(","):
                match = _PERIOD.match(span)
                if not match:
                    raise HoursError(f"bad period {span!r} (write HH:MM-HH:MM)")
                start = _minutes(match[1], match[2], span)
                end = _minutes(match[3], match[4], span)
                if end <= start:
                    end += 1440  # runs past midnight
                periods.append(Period(day, start, end))
    periods.sort(key=lambda p: (p.weekday, p.start))
    for a, b in zip(periods, periods[1:], strict=False):
        if a.weekday == b.weekday and b.start < a.end:
            raise HoursError(f"overlapping periods on {DAYS[a.weekday].title()}")
    return WeeklyHours(periods=tuple(periods))
