"""How the support mailbox's sync is going, for admins, and asking it to start over."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.models import InboundEmail, Mailbox


@dataclass
class MailboxHealth:
    """One mailbox's sync state and how its stored messages fared."""

    mailbox: Mailbox
    counts: dict[str, int]


def mailbox_health() -> list[MailboxHealth]:
    """Return every mailbox with its InboundEmail counts by status (one grouped query)."""
    counts: dict[int | None, dict[str, int]] = {}
    rows = db.session.execute(select(InboundEmail.mailbox_id, InboundEmail.status, func.count())
                              .group_by(InboundEmail.mailbox_id, InboundEmail.status))
    for mailbox_id, status, count in rows:
        counts.setdefault(mailbox_id, {})[status] = count
    mailboxes = db.session.scalars(select(Mailbox).order_by(Mailbox.id)).all()
    return [MailboxHealth(m, counts.get(m.id, {})) for m in mailboxes]


def failed_emails(limit: int = 50) -> list[InboundEmail]:
    """Return the newest messages whose import failed."""
    return list(db.session.scalars(select(InboundEmail).where(InboundEmail.status == "failed")
                                   .order_by(InboundEmail.id.desc()).limit(limit)))


def request_resync(mailbox: Mailbox) -> None:
    """Ask the watcher (or the next ``mail fetch``) to fetch the whole folder again; imports stay exactly-once."""
    mailbox.resync_requested = True
    db.session.flush()
