"""Help centre and contact form views: parse, call the ticket service, commit, render."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import refresh

from helpdesk import i18n
from helpdesk.channels.web import bp, errors, service
from helpdesk.channels.web.forms import ContactForm
from helpdesk.extensions import db, limiter
from helpdesk.models import Ticket

log = logging.getLogger(__name__)
_THANKS = "contact_thanks"


def _email_key() -> str:
    """Key the per-address limit on the address typed in the form."""
    return "contact-address:" + (request.form.get("email") or "").strip().lower()[:254]


def chat_available() -> bool:
    """Say whether the chat widget is served (another part of the desk may not be there)."""
    return any(name.endswith(".widget") and name.startswith("chat") for name in current_app.view_functions)


@bp.app_context_processor
def _public_globals() -> dict:
    return {"chat_available": chat_available}


@bp.before_app_request
def _fresh_locale() -> None:
    # Flask-Babel caches the locale on g, which outlives a request when an app context is shared
    # (tests, scripts); choose it again for each request.
    refresh()


@bp.app_errorhandler(429)
def too_many(exc):
    """Answer a rate limit with a friendly page on customer pages (others keep the plain 429)."""
    return errors.page(429) if errors.is_public() else exc


@bp.get("/")
def index():
    """Show the help centre: search, the most useful articles, and the ways to reach us."""
    language = i18n.current_language()
    return render_template("public/index.html", articles=service.popular_articles(language, 6))


@bp.get("/language/<code>")
def language(code: str):
    """Switch the pages' language (a cookie; a signed-in customer's setting too)."""
    chosen = i18n.supported(code)
    if chosen is None:
        abort(404)
    target = request.args.get("next") or url_for("web.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        target = url_for("web.index")
    from helpdesk.portal.session import current_customer

    customer = current_customer()
    if customer is not None and customer.language != chosen:
        customer.language = chosen
        db.session.commit()
    response = redirect(target)
    response.set_cookie(i18n.COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
    return response


@bp.route("/contact", methods=["GET", "POST"])
@limiter.limit("5/minute;30/hour", methods=["POST"])
@limiter.limit("10/hour", key_func=_email_key, methods=["POST"])
def contact():
    """Show the contact form; on a valid submission open a ticket on the web channel."""
    form = ContactForm()
    if request.method == "GET" and request.args.get("subject"):
        form.subject.data = request.args["subject"][:300]
    if form.validate_on_submit():
        if form.website.data:
            log.info("contact form honeypot filled from %s; no ticket", request.remote_addr)
            session[_THANKS] = 0
            return redirect(url_for("web.thanks"))
        ticket = service.submit(form, i18n.current_language())
        db.session.commit()
        session[_THANKS] = ticket.id
        return redirect(url_for("web.thanks"))
    return render_template("public/contact.html", form=form), 400 if form.errors else 200


@bp.get("/contact/thanks")
def thanks():
    """Thank the customer: the reference, the promised reply date and the portal link."""
    ticket_id = session.get(_THANKS)
    if ticket_id is None:
        return redirect(url_for("web.contact"))
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    due = service.promised(ticket) if ticket is not None else None
    return render_template("public/thanks.html", ticket=ticket, due=due)


@bp.post("/contact/deflected")
@limiter.limit("30/minute")
def deflected():
    """Record that a suggested article was opened from the contact form (a beacon; no body back)."""
    service.record_deflection(request.form.get("article_id"), request.form.get("query"))
    db.session.commit()
    return "", 204
