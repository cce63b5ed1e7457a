"""Portal views: sign in by emailed link, list and read tickets, reply, close, download, rate.

Every ticket, message and attachment lookup answers 404, never 403, when it
is not this browser's to see, so ids and references reveal nothing.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from redis.exceptions import RedisError

from helpdesk import i18n, storage, tickets
from helpdesk.channels.web.service import incoming_files
from helpdesk.extensions import db, limiter
from helpdesk.models import Ticket
from helpdesk.portal import bp, satisfaction, service, session, tokens
from helpdesk.portal.forms import ConfirmForm, RatingForm, ReplyForm, SignInForm
from helpdesk.portal.links import check_key


def _address_key() -> str:
    return "portal-address:" + (request.form.get("email") or "").strip().lower()[:254]


def _ticket(reference: str) -> Ticket:
    ticket = Ticket.by_reference(reference)
    if not session.may_open(ticket):
        abort(404)
    return ticket


@bp.route("/", methods=["GET", "POST"])
@limiter.limit("5/minute;20/hour", methods=["POST"])
@limiter.limit("5/hour", key_func=_address_key, methods=["POST"])
def index():
    """Show the customer's tickets, or the form that emails a sign-in link."""
    customer = session.current_customer()
    if customer is not None:
        return render_template("portal/tickets.html", customer=customer, tickets=service.customer_tickets(customer),
                               signout=ConfirmForm())
    form = SignInForm()
    if form.validate_on_submit():
        found = tickets.find_customer("email", form.email.data)
        if found is not None:
            from workers.queues import enqueue

            try:
                enqueue("workers.portal.send_sign_in_link", found.id, i18n.current_language(), queue_name="mail")
            except RedisError:
                abort(503)
        # The same answer whether or not the address is known.
        return render_template("portal/sign_in_sent.html", email=form.email.data.strip())
    return render_template("portal/sign_in.html", form=form), 400 if form.errors else 200


@bp.route("/sign-in/<secret>", methods=["GET", "POST"])
@limiter.limit("20/minute")
def sign_in(secret: str):
    """Sign in with an emailed link: a button, so link scanners fetching it do not use it up."""
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        customer = tokens.redeem(secret)
        if customer is not None:
            session.sign_in(customer)
            return redirect(url_for("portal.index"))
    elif request.method == "GET" and tokens.peek(secret) is not None:
        return render_template("portal/sign_in_confirm.html", form=form)
    return render_template("portal/sign_in.html", form=SignInForm(formdata=None), expired=True), 400


@bp.post("/sign-out")
def sign_out():
    """End the portal session."""
    if ConfirmForm().validate_on_submit():
        session.sign_out()
    return redirect(url_for("portal.index"))


@bp.get("/tickets/<reference>")
def ticket(reference: str):
    """Show one ticket's public thread; a signed acknowledgement link opens it without signing in."""
    found = Ticket.by_reference(reference)
    key = request.args.get("key")
    if found is not None and key and check_key(found, key) and not found.merged_into_id:
        session.grant_ticket(found)
        return redirect(url_for("portal.ticket", reference=found.reference))
    found = _ticket(reference)
    return render_template("portal/ticket.html", ticket=found, messages=service.public_messages(found),
                           form=ReplyForm(), confirm=ConfirmForm(), rating=satisfaction.rating_of(found),
                           rating_form=RatingForm(), labels=satisfaction.labels(),
                           signed_in=session.current_customer() is not None)


@bp.post("/tickets/<reference>/reply")
@limiter.limit("20/minute")
def reply(reference: str):
    """Add the customer's reply (and files) to the ticket."""
    found = _ticket(reference)
    form = ReplyForm()
    if not form.validate_on_submit():
        return render_template("portal/ticket.html", ticket=found, messages=service.public_messages(found),
                               form=form, confirm=ConfirmForm(), rating=satisfaction.rating_of(found),
                               rating_form=RatingForm(), labels=satisfaction.labels(),
                               signed_in=session.current_customer() is not None), 400
    received = service.reply(found, form.body.data, incoming_files(form.attachments.data))
    db.session.commit()
    if received.ticket.id != found.id:
        session.grant_ticket(received.ticket)
    flash(_("Your reply was added."))
    return redirect(url_for("portal.ticket", reference=received.ticket.reference))


@bp.post("/tickets/<reference>/close")
def close(reference: str):
    """Let the customer mark their ticket solved."""
    found = _ticket(reference)
    if ConfirmForm().validate_on_submit():
        service.close_by_customer(found)
        db.session.commit()
        flash(_("Your request is closed. Thank you!"))
    return redirect(url_for("portal.ticket", reference=found.reference))


@bp.post("/tickets/<reference>/rating")
def rate_in_portal(reference: str):
    """Record a rating (and comment) given on the ticket page."""
    found = _ticket(reference)
    form = RatingForm()
    if form.validate_on_submit():
        satisfaction.rate(found, form.rating.data, form.comment.data or "")
        db.session.commit()
        flash(_("Thank you for your feedback."))
    return redirect(url_for("portal.ticket", reference=found.reference))


@bp.get("/attachments/<int:attachment_id>")
def attachment(attachment_id: int):
    """Download a file from a public message of one of this customer's tickets."""
    item = service.visible_attachment(attachment_id, session.may_open)
    if item is None:
        abort(404)
    response = send_file(storage.path_for(item.sha256), mimetype="application/octet-stream", as_attachment=True,
                         download_name=item.filename)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.route("/rate/<token>", methods=["GET", "POST"])
@limiter.limit("30/minute")
def rate(token: str):
    """Record the rating a one-click survey link carries, and offer a comment."""
    checked = satisfaction.check_token(token)
    if checked is None:
        abort(404)
    found, rating = checked
    form = RatingForm(data={"rating": rating})
    if request.method == "GET":
        row = satisfaction.rate(found, rating)
        db.session.commit()
        form.comment.data = row.comment
        return render_template("portal/rated.html", ticket=found, rating=rating, form=form,
                               labels=satisfaction.labels())
    if form.validate_on_submit():
        satisfaction.rate(found, form.rating.data, form.comment.data or "")
        db.session.commit()
        return render_template("portal/rated.html", ticket=found, rating=form.rating.data, form=form,
                               labels=satisfaction.labels(), thanked=True)
    return render_template("portal/rated.html", ticket=found, rating=rating, form=form,
                           labels=satisfaction.labels()), 400
