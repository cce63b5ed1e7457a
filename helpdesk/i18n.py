"""Choose the customer's language and show dates in their locale and time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import current_app, has_request_context, request
from flask_babel import get_locale

#: The languages every customer-facing page and email is written in.
LANGUAGES = ("en", "fr")
LABELS = (("en", "English"), ("fr", "Français"))
COOKIE = "lang"


def supported(code: str | None) -> str | None:
    """Return ``code`` reduced to a language we speak (``fr-CA`` -> ``fr``), or None."""
    code = (code or "").replace("_", "-").split("-")[0].strip().lower()
    return code if code in LANGUAGES else None


def select_locale() -> str:
    """Pick the language: the signed-in customer's setting, the switcher's cookie, then the browser's."""
    if not has_request_context():
        return "en"
    from helpdesk.portal.session import current_customer

    customer = current_customer()
    if customer is not None and supported(customer.language):
        return supported(customer.language)
    return supported(request.cookies.get(COOKIE)) or request.accept_languages.best_match(LANGUAGES) or "en"


def current_language() -> str:
    """Return the language of the page being built."""
    return supported(str(get_locale() or "en")) or "en"


def customer_zone(customer=None) -> ZoneInfo:
    """Return the customer's time zone, or the desk's."""
    name = getattr(customer, "timezone", None) or current_app.config["TIMEZONE"]
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo(current_app.config["TIMEZONE"])


def local_datetime(value: datetime | None, customer=None, language: str | None = None,
                   form: str = "medium") -> str:
    """Return ``value`` written in the language and the customer's (or desk's) zone."""
    if value is None:
        return ""
    if customer is None and has_request_context():
        from helpdesk.portal.session import current_customer

        customer = current_customer()
    return format_datetime(value, form, tzinfo=customer_zone(customer), locale=language or current_language())


def init_app(app) -> None:
    """Expose the language helpers to templates."""
    app.jinja_env.globals.update(current_locale=current_language, public_languages=LABELS)
    app.jinja_env.filters["local_datetime"] = local_datetime
