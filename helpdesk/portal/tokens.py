"""Portal sign-in links: single use, valid 15 minutes, kept only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from helpdesk.extensions import db
from helpdesk.models import Customer
from helpdesk.models.base import utcnow
from helpdesk.models.selfservice import PortalLoginToken

LIFETIME = timedelta(minutes=15)


def digest(secret: str) -> str:
    """Return the stored form of a link's secret."""
    return hashlib.sha256((secret or "").encode()).hexdigest()


def issue(customer: Customer) -> str:
    """Create a sign-in token for ``customer`` and return its absolute link; the caller commits."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(PortalLoginToken(token_hash=digest(secret), customer_id=customer.id, created_at=now,
                                    expires_at=now + LIFETIME))
    return f"{current_app.config['BASE_URL']}/portal/sign-in/{secret}"


def peek(secret: str) -> PortalLoginToken | None:
    """Return the token if it could still sign in (unused, not expired), without using it."""
    row = db.session.scalar(select(PortalLoginToken).where(PortalLoginToken.token_hash == digest(secret)))
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def redeem(secret: str) -> Customer | None:
    """Use the token once and return its customer; None when unknown, used or expired.

    A conditional UPDATE marks it used, so two requests racing with one link
    cannot both sign in.
    """
    now = utcnow()
    token_hash = digest(secret)
    used = db.session.execute(
        update(PortalLoginToken)
        .where(PortalLoginToken.token_hash == token_hash, PortalLoginToken.used_at.is_(None),
               PortalLoginToken.expires_at > now)
        .values(used_at=now)
    ).rowcount
    if not used:
        return None
    row = db.session.scalar(select(PortalLoginToken).where(PortalLoginToken.token_hash == token_hash))
    db.session.commit()
    return db.session.get(Customer, row.customer_id)
