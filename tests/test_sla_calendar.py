"""Business-time maths as pure functions: weekends, holidays, DST, split days, midnight spans."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from helpdesk.sla.calendar import BusinessCalendar, NeverOpen, add_business_time, business_minutes_between
from helpdesk.sla.hours import HoursError, parse_hours

TORONTO = ZoneInfo("America/Toronto")
NEW_YORK = ZoneInfo("America/New_York")


def at(zone, *args) -> datetime:
    return datetime(*args, tzinfo=zone)


def cal(hours="Mon-Fri 09:00-17:00", tz="UTC", holidays="", closures=()) -> BusinessCalendar:
    return BusinessCalendar.build(hours, tz, holidays, closures, years=range(2025, 2028))


def test_within_a_day():
    assert add_business_time(cal(), at(UTC, 2026, 11, 23, 10), 90) == at(UTC, 2026, 11, 23, 11, 30)


def test_over_the_weekend():
    friday = at(UTC, 2026, 11, 27, 16)
    assert add_business_time(cal(), friday, 120) == at(UTC, 2026, 11, 30, 10)
    assert business_minutes_between(cal(), friday, at(UTC, 2026, 11, 30, 10)) == 120


def test_start_outside_hours_counts_from_next_opening():
    saturday = at(UTC, 2026, 11, 28, 13)
    assert add_business_time(cal(), saturday, 30) == at(UTC, 2026, 11, 30, 9, 30)
    early_monday = at(UTC, 2026, 11, 30, 6)
    assert add_business_time(cal(), early_monday, 0) == at(UTC, 2026, 11, 30, 9)
    evening = at(UTC, 2026, 11, 30, 20)
    assert add_business_time(cal(), evening, 60) == at(UTC, 2026, 12, 1, 10)


def test_two_business_days_is_same_time_two_open_days_later():
    monday_five = at(NEW_YORK, 2026, 11, 23, 17)
    due = add_business_time(cal(tz="America/New_York"), monday_five, 2 * 480)
    assert due == at(NEW_YORK, 2026, 11, 25, 17)  # "Wednesday 25 November 2026, 17:00 EST"


def test_us_thanksgiving_is_skipped():
    wednesday = at(NEW_YORK, 2026, 11, 25, 16)
    calendar = cal(tz="America/New_York", holidays="US")
    assert date(2026, 11, 26) in calendar.closed_dates
    assert add_business_time(calendar, wednesday, 120) == at(NEW_YORK, 2026, 11, 27, 10)
    assert business_minutes_between(calendar, wednesday, at(NEW_YORK, 2026, 11, 27, 10)) == 120


def test_canada_day_and_quebec_holiday():
    calendar = cal(tz="America/Toronto", holidays="CA")
    tuesday = at(TORONTO, 2026, 6, 30, 16)
    assert add_business_time(calendar, tuesday, 120) == at(TORONTO, 2026, 7, 2, 10)
    quebec = cal(tz="America/Toronto", holidays="CA-QC")
    # Saint-Jean-Baptiste (24 June 2026, a Wednesday) closes Quebec but not Ontario-wide Canada.
    assert date(2026, 6, 24) in quebec.closed_dates
    assert date(2026, 6, 24) not in calendar.closed_dates


def test_admin_closures():
    calendar = cal(closures=[(date(2026, 12, 24), date(2026, 12, 26))])
    assert add_business_time(calendar, at(UTC, 2026, 12, 23, 16), 120) == at(UTC, 2026, 12, 28, 10)


def test_several_periods_a_day():
    calendar = cal("Mon-Thu 08:00-12:00,13:00-17:00; Fri 08:00-12:00")
    assert add_business_time(calendar, at(UTC, 2026, 11, 23, 11, 30), 60) == at(UTC, 2026, 11, 23, 13, 30)
    assert add_business_time(calendar, at(UTC, 2026, 11, 27, 11), 120) == at(UTC, 2026, 11, 30, 9)
    assert business_minutes_between(calendar, at(UTC, 2026, 11, 23, 7), at(UTC, 2026, 11, 24, 7)) == 480


def test_period_spanning_midnight():
    night = cal("Mon-Fri 22:00-06:00")
    tuesday_five = at(UTC, 2026, 11, 24, 5)  # inside Monday's night shift
    assert add_business_time(night, tuesday_five, 120) == at(UTC, 2026, 11, 24, 23)
    assert business_minutes_between(night, at(UTC, 2026, 11, 23, 21), at(UTC, 2026, 11, 24, 7)) == 480


def test_dst_spring_forward_and_fall_back():
    calendar = cal("Sun 00:00-06:00; Mon-Fri 09:00-17:00", tz="America/Toronto")
    spring = business_minutes_between(calendar, at(TORONTO, 2026, 3, 8, 0), at(TORONTO, 2026, 3, 8, 6))
    fall = business_minutes_between(calendar, at(TORONTO, 2026, 11, 1, 0), at(TORONTO, 2026, 11, 1, 6))
    assert (spring, fall) == (300, 420)  # the real length of each night
    # A normal day right after each change is still eight local hours.
    monday = at(TORONTO, 2026, 3, 9, 9)
    assert add_business_time(calendar, monday, 480) == at(TORONTO, 2026, 3, 9, 17)
    friday = at(TORONTO, 2026, 10, 30, 16)
    # 01:00 happens twice that night; the first one (EDT, 05:00 UTC) is when 60 minutes have passed.
    assert add_business_time(calendar, friday, 120) == at(UTC, 2026, 11, 1, 5)
    assert add_business_time(calendar, friday, 60 + 420 + 60) == at(TORONTO, 2026, 11, 2, 10)


def test_around_the_clock():
    always = cal("24/7")
    start = at(TORONTO, 2026, 3, 7, 12)
    assert add_business_time(always, start, 24 * 60) == start + timedelta(hours=24)
    assert business_minutes_between(always, start, start + timedelta(days=2)) == 2880


@pytest.mark.parametrize("minutes", [1, 59, 61, 479, 480, 481, 960, 2400, 10_000])
def test_add_and_measure_agree(minutes):
    calendar = cal("Mon-Thu 08:00-12:00,13:00-17:00; Fri 08:00-12:00", tz="America/Toronto", holidays="CA")
    start = at(TORONTO, 2026, 6, 29, 10, 17)
    due = add_business_time(calendar, start, minutes)
    assert business_minutes_between(calendar, start, due) == pytest.approx(minutes)
    assert business_minutes_between(calendar, due, start) == pytest.approx(-minutes)


def test_naive_instants_are_refused_and_closed_calendars_detected():
    with pytest.raises(ValueError):
        add_business_time(cal(), datetime(2026, 1, 1), 10)
    closed = BusinessCalendar(parse_hours("Mon 09:00-10:00"), "UTC", frozenset())
    everything = BusinessCalendar(closed.hours, "UTC", frozenset(
        date(2026, 1, 1) + timedelta(days=n) for n in range(4 * 366)))
    with pytest.raises(NeverOpen):
        add_business_time(everything, at(UTC, 2026, 1, 1), 10)


@pytest.mark.parametrize("text", ["", "Mon", "Funday 09:00-17:00", "Mon 9-17", "Mon 25:00-26:00",
                                  "Mon 09:00-12:00,11:00-13:00"])
def test_bad_hours_are_refused(text):
    with pytest.raises(HoursError):
        parse_hours(text)


def test_hours_round_trip():
    text = "Mon-Thu 08:00-12:00,13:00-17:00; Fri 08:00-12:00"
    assert str(parse_hours(text)) == "Mon 08:00-12:00,13:00-17:00; Tue 08:00-12:00,13:00-17:00; " \
        "Wed 08:00-12:00,13:00-17:00; Thu 08:00-12:00,13:00-17:00; Fri 08:00-12:00"
    assert str(parse_hours("24/7")) == "24/7"
