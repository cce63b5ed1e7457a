"""Admin pages for the acknowledgement email and the support mailbox's health."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for

from helpdesk import storage
from helpdesk.auth import admin_required
from helpdesk.channels.email import health
from helpdesk.console import bp
from helpdesk.console.forms import ConfirmForm
from helpdesk.console.messages import SANDBOX
from helpdesk.console.sla_forms import AckForm
from helpdesk.extensions import db
from helpdesk.models import InboundEmail, Mailbox
from helpdesk.models.base import utcnow
from helpdesk.sla import acknowledgement, policies, settings
from helpdesk.sla.calendar import add_business_time

LANGUAGE_NAMES = {"en": "English", "fr": "Français"}


def sample_values(language: str) -> dict[str, str]:
    """Return the placeholders filled for a made-up ticket opened now, as the real email would fill them."""
    calendar = policies.business_calendar()
    days = current_app.config["ACK_BUSINESS_DAYS"]
    due = add_business_time(calendar, utcnow(), days * policies.minutes_per_business_day(calendar))
    ticket = SimpleNamespace(customer=SimpleNamespace(timezone=None, language=language), first_response_due_at=due)
    prefix = current_app.config.get("REFERENCE_PREFIX", "HD")
    return {
        "reference": f"{prefix}-1042", "subject": "My printer is on fire", "name": "Dana Scully",
        "due": acknowledgement.format_due(ticket), "business_days": str(days),
        "portal_url": f"{current_app.config['BASE_URL']}/portal/t/{prefix}-1042",
    }


@bp.route("/admin/acknowledgement", methods=["GET", "POST"])
@admin_required
def admin_acknowledgement():
    """Edit the acknowledgement's subject and body per language, with a preview."""
    language = request.args.get("language", "en")
    if language not in settings.LANGUAGES:
        abort(404)
    form = AckForm()
    subject, body = acknowledgement.template_for(language)
    customised = acknowledgement.template_for(language) != acknowledgement.DEFAULTS[language]
    if not form.is_submitted():
        form.subject.data, form.body.data = subject, body
    if form.validate_on_submit():
        try:
            settings.save_ack_template(language, form.subject.data, form.body.data)
        except settings.SettingsError as exc:
            db.session.rollback()
            field = getattr(form, exc.field or "", None) or form.body
            field.errors = [*field.errors, str(exc)]
        else:
            db.session.commit()
            flash(f"Acknowledgement ({LANGUAGE_NAMES[language]}) saved; the next one sent uses it.")
            return redirect(url_for("console.admin_acknowledgement", language=language))
    values = sample_values(language)
    return render_template(
        "console/admin/acknowledgement.html", form=form, language=language, languages=LANGUAGE_NAMES,
        placeholders=acknowledgement.PLACEHOLDERS, values=values, customised=customised,
        preview_subject=acknowledgement.fill(form.subject.data or "", values),
        preview_body=acknowledgement.fill(form.body.data or "", values), confirm=ConfirmForm(),
    ), 400 if form.errors else 200


@bp.post("/admin/acknowledgement/<language>/reset")
@admin_required
def admin_acknowledgement_reset(language: str):
    """Go back to the built-in acknowledgement text."""
    if language not in settings.LANGUAGES or not ConfirmForm().validate_on_submit():
        abort(400)
    settings.reset_ack_template(language)
    db.session.commit()
    flash(f"Acknowledgement ({LANGUAGE_NAMES[language]}) back to the built-in text.")
    return redirect(url_for("console.admin_acknowledgement", language=language))


@bp.get("/admin/mailboxes")
@admin_required
def admin_mailboxes():
    """Show each mailbox's sync health and the messages that failed to import."""
    return render_template("console/admin/mailboxes.html", boxes=health.mailbox_health(),
                           failed=health.failed_emails(), now=utcnow(), stale=timedelta(minutes=5),
                           confirm=ConfirmForm())


@bp.post("/admin/mailboxes/<int:mailbox_id>/resync")
@admin_required
def admin_mailbox_resync(mailbox_id: int):
    """Ask the watcher to fetch the whole folder again."""
    mailbox = db.get_or_404(Mailbox, mailbox_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    health.request_resync(mailbox)
    db.session.commit()
    flash(f"Resync of {mailbox.label} requested: the watcher starts it within 10 seconds "
          "(or run `flask --app wsgi mail fetch`).")
    return redirect(url_for("console.admin_mailboxes"))


@bp.get("/admin/inbound/<int:inbound_id>/raw")
@admin_required
def admin_inbound_raw(inbound_id: int):
    """Show a stored raw email (one that failed to import has no ticket to reach it from)."""
    row = db.get_or_404(InboundEmail, inbound_id)
    response = send_file(storage.path_for(row.sha256), mimetype="text/plain",
                         download_name=f"inbound-{inbound_id}.eml", as_attachment=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = SANDBOX
    return response
