"""Admin forms for SLA policies, the business calendar and the acknowledgement (Flask-WTF: CSRF on each)."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from helpdesk.models.ticket import CHANNELS, PRIORITIES

ESCALATION_CHOICES = [("none", "None: notify only"), ("raise_priority", "Raise the priority one step"),
                      ("reassign_lead", "Reassign to the team lead")]
#: A bare number of minutes, or numbers each with its unit (unambiguous: no backtracking blow-up).
_DURATION = re.compile(r"\d+(?:\.\d+)?|(?:\d+(?:\.\d+)?\s*[dhm]\s*)+")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhm]?)")
DURATION_HINT = ("Minutes (90) or with units: 30m, 4h, 2d, 1d 4h. Blank: no target. "
                 "In business hours a day is one business day of open time; around the clock it is 24h.")


def parse_duration(text: str | None, day_minutes: int) -> float | None:
    """Return the minutes ``text`` describes ("90", "4h", "1d 4h"); None when blank; ValueError when unreadable."""
    text = (text or "").strip().lower()
    if not text:
        return None
    if text.startswith("-"):
        raise ValueError("Must be a positive duration.")
    if not _DURATION.fullmatch(text):
        raise ValueError("Write minutes (90) or a duration such as 30m, 4h, 2d or 1d 4h.")
    units = {"d": day_minutes, "h": 60, "m": 1, "": 1}
    return sum(float(number) * units[unit] for number, unit in _PART.findall(text))


def format_duration(minutes: float | None, day_minutes: int) -> str:
    """Return minutes in the form parse_duration reads back ("2d", "4h", "1d 4h", "0.5m")."""
    if minutes is None:
        return ""
    if minutes != int(minutes):
        return f"{minutes:g}m"
    total, parts = int(minutes), []
    for size, unit in ((day_minutes, "d"), (60, "h"), (1, "m")):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts) or "0m"


class PolicyForm(FlaskForm):
    """Create or edit an SLA policy."""

    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    match_priority = SelectField("Priority", choices=[("", "Any")] + [(p, p.title()) for p in PRIORITIES])
    match_channel = SelectField("Channel", choices=[("", "Any")] + [(c, c.title() if c != "api" else "API")
                                                                     for c in CHANNELS])
    match_vip = SelectField("VIP", choices=[("", "Any"), ("yes", "VIP customers"), ("no", "Other customers")])
    first_response = StringField("First response within", validators=[Length(max=40)])
    next_response = StringField("Next response within", validators=[Length(max=40)])
    resolution = StringField("Resolution within", validators=[Length(max=40)])
    business_hours = SelectField("Count time", choices=[("business", "In business hours"),
                                                        ("always", "Around the clock")])
    escalation = SelectField("On breach", choices=ESCALATION_CHOICES)


class CalendarForm(FlaskForm):
    """Edit the business calendar."""

    timezone = StringField("Time zone", validators=[Length(max=64)])
    hours = TextAreaField("Weekly hours", validators=[Length(max=400)])
    holidays = StringField("Public holidays of", validators=[Length(max=20)])


class ClosureForm(FlaskForm):
    """Close the desk on some days."""

    first_day = DateField("First day", validators=[Optional()])
    last_day = DateField("Last day", validators=[Optional()])
    reason = StringField("Reason", validators=[Length(max=200)])


class AckForm(FlaskForm):
    """Edit the acknowledgement in one language."""

    subject = StringField("Subject", validators=[Length(max=300)])
    body = TextAreaField("Body", validators=[Length(max=20000)])
