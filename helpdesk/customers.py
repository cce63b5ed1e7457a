"""Change customers' profiles and identities: the service the console calls."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk import search
from helpdesk.extensions import db
from helpdesk.models import Agent, Customer, CustomerIdentity
from helpdesk.tickets.identities import InvalidIdentity, normalize_email, normalize_phone

_NORMALIZERS = {"email": normalize_email, "phone": normalize_phone}


class CustomerError(ValueError):
    """A change to a customer that cannot be made, with a message fit to show the agent."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def update_customer(customer: Customer, name: str, vip: bool, language: str,
                    account_owner: Agent | None) -> Customer:
    """Change the editable parts of a customer's profile and re-index it."""
    language = (language or "").strip().lower()
    if not language or len(language) > 8 or not language.replace("-", "").isalpha():
        raise CustomerError("Language must be a code such as en, fr or pt-br.", "language")
    if account_owner is not None and not account_owner.active:
        raise CustomerError(f"{account_owner.name} is deactivated.", "account_owner")
    customer.name = (name or "").strip()[:200]
    customer.vip = bool(vip)
    customer.language = language
    customer.account_owner = account_owner
    db.session.flush()
    search.index_customer(customer)
    return customer


def add_identity(customer: Customer, kind: str, value: str) -> CustomerIdentity:
    """Give ``customer`` another email address or phone number (normalised, unique)."""
    if kind not in _NORMALIZERS:
        raise CustomerError("Add an email address or a phone number.", "kind")
    try:
        value = _NORMALIZERS[kind](value)
    except InvalidIdentity as exc:
        raise CustomerError(str(exc), "value") from None
    owner = db.session.scalar(
        select(CustomerIdentity).where(CustomerIdentity.kind == kind, CustomerIdentity.value == value)
    )
    if owner is not None:
        who = "this customer" if owner.customer_id == customer.id else owner.customer.display_name
        raise CustomerError(f"{value} already belongs to {who}.", "value")
    identity = CustomerIdentity(kind=kind, value=value)
    customer.identities.append(identity)
    db.session.flush()
    search.index_customer(customer)
    return identity
