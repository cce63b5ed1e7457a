"""Console forms (Flask-WTF: CSRF on every one)."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, Length, Optional

from helpdesk.models.agent import ROLES
from helpdesk.models.ticket import CHANNELS

NOBODY = 0


class LoginForm(FlaskForm):
    """Sign in with email and password."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    remember = BooleanField("Keep me signed in")


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class CustomerForm(FlaskForm):
    """Edit a customer's profile."""

    name = StringField("Name", validators=[Length(max=200)])
    vip = BooleanField("VIP (gold client)")
    language = StringField("Language", validators=[DataRequired(), Length(max=8)])
    account_owner = SelectField("Account owner", coerce=int)


class IdentityForm(FlaskForm):
    """Add an email address or phone number to a customer."""

    kind = SelectField("Kind", choices=[("email", "Email"), ("phone", "Phone")])
    value = StringField("Address or number", validators=[DataRequired(), Length(max=254)])


class CallForm(FlaskForm):
    """Log a phone call as a new ticket."""

    phone = StringField("Caller's number", validators=[DataRequired(), Length(max=40)])
    name = StringField("Caller's name", validators=[Length(max=200)])
    email = EmailField("Caller's email (optional)", validators=[Optional(), Length(max=254)])
    subject = StringField("Subject", validators=[DataRequired(), Length(max=300)])
    notes = TextAreaField("Call notes", validators=[DataRequired(), Length(max=20000)])


class AgentForm(FlaskForm):
    """Create or edit an agent."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    role = SelectField("Role", choices=[(r, r.title()) for r in ROLES])
    password = PasswordField("Password", validators=[Optional(), Length(max=200)])


class TeamForm(FlaskForm):
    """Create or edit a team."""

    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    description = TextAreaField("Description", validators=[Length(max=400)])
    channels = CheckboxesField("Takes new tickets from", choices=[(c, c.title() if c != "api" else "API")
                                                                 for c in CHANNELS])
    restricted = BooleanField("Restricted: only members (and admins) see this team's tickets")
    members = CheckboxesField("Members", coerce=int)
    lead = SelectField("Team lead", coerce=int)


class CannedForm(FlaskForm):
    """Create or edit a canned response."""

    title = StringField("Title", validators=[DataRequired(), Length(max=120)])
    body = TextAreaField("Body", validators=[DataRequired(), Length(max=20000)])


class ConfirmForm(FlaskForm):
    """A button-only form (deactivate, delete): nothing but the CSRF token."""
