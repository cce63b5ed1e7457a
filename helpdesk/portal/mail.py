"""The portal's own emails: the sign-in link and the satisfaction survey, in the customer's language."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from helpdesk import i18n
from helpdesk.channels.email import outbound, smtp
from helpdesk.models import Customer, Ticket
from helpdesk.models.base import utcnow


def _email(to: str, subject: str, body: str, headers: dict[str, str]) -> EmailMessage:
    support = current_app.config["SUPPORT_ADDRESS"]
    email = EmailMessage()
    email["From"] = formataddr((_("Support"), support))
    email["To"] = to
    email["Subject"] = outbound.one_line(subject)
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = make_msgid(domain=support.rpartition("@")[2] or "localhost")
    for name, value in headers.items():
        email[name] = outbound.one_line(value)
    email.set_content(body)
    return email


def send_sign_in(customer: Customer, address: str, link: str, language: str) -> None:
    """Email ``address`` the portal sign-in ``link``, in ``language``."""
    with force_locale(i18n.supported(language) or "en"):
        body = render_template("email/portal_sign_in.txt", customer=customer, link=link, minutes=15)
        email = _email(address, _("Your sign-in link"), body, {
            "Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All",
        })
    smtp.send(email, [address])


def send_survey(ticket: Ticket, address: str, links: list[tuple[int, str]], portal_url: str) -> None:
    """Email the customer the five one-click rating ``links`` for ``ticket``."""
    language = i18n.supported(ticket.customer.language) or "en"
    with force_locale(language):
        from helpdesk.portal.satisfaction import labels

        body = render_template("email/satisfaction_survey.txt", ticket=ticket, links=links, portal_url=portal_url,
                               rating_labels=labels())
        email = _email(address, _("How did we do? [%(reference)s]", reference=ticket.reference), body, {
            "Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All", "Precedence": "bulk",
        })
        in_reply_to, references = outbound.thread_headers(ticket)
        if in_reply_to:
            email["In-Reply-To"] = f"<{in_reply_to}>"
        if references:
            email["References"] = " ".join(f"<{r}>" for r in references)
    smtp.send(email, [address])
