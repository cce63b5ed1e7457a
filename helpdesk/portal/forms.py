"""Portal forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, MultipleFileField, RadioField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from helpdesk.channels.web.forms import check_email, check_files


class SignInForm(FlaskForm):
    """Ask for a sign-in link."""

    email = EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email address.")), Length(max=254),
                                               check_email])


class ReplyForm(FlaskForm):
    """Add to a ticket."""

    body = TextAreaField(_l("Your reply"), validators=[DataRequired(_l("Write your reply.")), Length(max=20000)])
    attachments = MultipleFileField(_l("Attachments"), validators=[Optional()])

    def validate_attachments(self, field) -> None:
        """Refuse too many or too large files, beside the field."""
        check_files(field.data)


class ConfirmForm(FlaskForm):
    """A button that only needs its CSRF token (sign in, sign out, close)."""


class RatingForm(FlaskForm):
    """Rate a solved ticket, with an optional comment."""

    rating = RadioField(_l("Your rating"), coerce=int, choices=[(n, str(n)) for n in range(1, 6)],
                        validators=[DataRequired(_l("Choose a rating from 1 to 5."))])
    comment = TextAreaField(_l("Comment (optional)"), validators=[Optional(), Length(max=4000)])
