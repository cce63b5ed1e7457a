"""The contact form (Flask-WTF: CSRF on it)."""

from __future__ import annotations

import os

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from helpdesk.tickets.identities import InvalidIdentity, normalize_email

CATEGORIES = (
    ("question", _l("A question")),
    ("problem", _l("A problem")),
    ("complaint", _l("A complaint")),
    ("feedback", _l("Feedback")),
    ("order", _l("An order")),
)
MAX_FILES = 10


def file_size(storage) -> int:
    """Return the size of an uploaded file without reading it into memory."""
    stream = storage.stream
    position = stream.tell()
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(position)
    return size


def check_files(files) -> None:
    """Raise ValidationError when there are too many files or one is too large."""
    files = [f for f in files or [] if getattr(f, "filename", "")]
    if len(files) > MAX_FILES:
        raise ValidationError(_l("Attach at most %(count)d files.", count=MAX_FILES))
    limit = current_app.config["MAX_ATTACHMENT_BYTES"]
    for item in files:
        if file_size(item) > limit:
            raise ValidationError(_l("%(name)s is larger than %(size)d MB.", name=item.filename[:100],
                                     size=limit // (1024 * 1024)))


def check_email(form, field) -> None:
    """Accept only an address we can write back to."""
    try:
        normalize_email(field.data or "")
    except InvalidIdentity:
        raise ValidationError(_l("Enter an email address like name@example.com.")) from None


class ContactForm(FlaskForm):
    """Write to the help desk."""

    name = StringField(_l("Name"), validators=[DataRequired(_l("Tell us your name.")), Length(max=200)])
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email address.")), Length(max=254),
                                               check_email])
    category = SelectField(_l("What is it about?"), choices=CATEGORIES, default="question")
    subject = StringField(_l("Subject"), validators=[DataRequired(_l("Give your request a subject.")),
                                                     Length(max=300)])
    message = TextAreaField(_l("Message"), validators=[DataRequired(_l("Write your message.")),
                                                      Length(max=20000)])
    attachments = MultipleFileField(_l("Attachments"), validators=[Optional()])
    #: The honeypot: hidden from people by CSS, filled in by bots.
    website = StringField(_l("Leave this field empty"), validators=[Optional()])

    def validate_attachments(self, field) -> None:
        """Refuse too many or too large files, beside the field."""
        check_files(field.data)
