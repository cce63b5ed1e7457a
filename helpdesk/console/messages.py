"""A message's stored original, its inline images, and sending it again."""

from __future__ import annotations

from flask import abort, flash, redirect, send_file, url_for
from flask_login import current_user, login_required

from helpdesk import storage
from helpdesk.console import bp
from helpdesk.console.message_display import INLINE_IMAGE_TYPES, original_email
from helpdesk.console.ticket_actions import _refused
from helpdesk.extensions import db
from helpdesk.models import Attachment, Message
from helpdesk.tickets import TicketError
from helpdesk.tickets.delivery import retry_delivery
from helpdesk.tickets.queries import can_see

#: Responses that carry customer bytes: never sniffed, never run, never framed.
SANDBOX = "default-src 'none'; sandbox"


def visible_message(message_id: int) -> Message:
    """Return the message if the agent may see its ticket; else 404."""
    message = db.session.get(Message, message_id)
    if message is None or not can_see(current_user, message.ticket):
        abort(404)
    return message


def _locked_down(response):
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = SANDBOX
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/messages/<int:message_id>/raw")
@login_required
def message_raw(message_id: int):
    """Show the email exactly as it arrived, as plain text."""
    inbound = original_email(visible_message(message_id))
    if inbound is None:
        abort(404)
    response = send_file(storage.path_for(inbound.sha256), mimetype="text/plain",
                         download_name=f"message-{message_id}.eml", as_attachment=False)
    return _locked_down(response)


@bp.get("/attachments/<int:attachment_id>/inline")
@login_required
def attachment_inline(attachment_id: int):
    """Serve an inline image for an HTML body (PNG, JPEG, GIF or WebP only)."""
    item = db.session.get(Attachment, attachment_id)
    if item is None or not can_see(current_user, item.message.ticket):
        abort(404)
    content_type = item.content_type.split(";")[0].strip().lower()
    if content_type not in INLINE_IMAGE_TYPES:
        abort(404)
    return _locked_down(send_file(storage.path_for(item.sha256), mimetype=content_type, as_attachment=False))


@bp.post("/messages/<int:message_id>/retry")
@login_required
def message_retry(message_id: int):
    """Send a reply or acknowledgement whose delivery failed once more."""
    message = visible_message(message_id)
    ticket = message.ticket
    try:
        retry_delivery(message, current_user)
    except TicketError as exc:
        return _refused(ticket, "delivery", exc)
    db.session.commit()
    flash("Sending again.")
    return redirect(url_for("console.ticket", reference=ticket.reference, _anchor=f"message-{message.id}"))
