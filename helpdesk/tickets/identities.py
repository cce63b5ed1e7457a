"""Find customers by any of their identities, and create them when unknown."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from helpdesk import search
from helpdesk.extensions import db
from helpdesk.models import Customer, CustomerIdentity

_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]{1,253}$")


class InvalidIdentity(ValueError):
    """An email address or phone number that cannot be used."""


@dataclass(frozen=True)
class Contact:
    """Who a message is from, as the channel knows it."""

    email: str | None = None
    phone: str | None = None
    name: str | None = None
    visitor: str | None = None


def normalize_email(address: str) -> str:
    """Return ``address`` lower-cased, or raise InvalidIdentity."""
    address = (address or "").strip().lower()
    if not _EMAIL.match(address):
        raise InvalidIdentity(f"{address!r} is not an email address")
    return address


def normalize_phone(number: str, region: str | None = None) -> str:
    """Return ``number`` in E.164 however it was written, or raise InvalidIdentity."""
    region = region or current_app.config.get("PHONE_REGION", "US")
    try:
        parsed = phonenumbers.parse(number or "", region)
    except phonenumbers.NumberParseException:
        raise InvalidIdentity(f"{number!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidIdentity(f"{number!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _normalized(contact: Contact) -> list[tuple[str, str]]:
    pairs = []
    if contact.email:
        pairs.append(("email", normalize_email(contact.email)))
    if contact.phone:
        pairs.append(("phone", normalize_phone(contact.phone)))
    if contact.visitor:
        pairs.append(("visitor", contact.visitor))
    return pairs


def find_customer(kind: str, value: str) -> Customer | None:
    """Return the customer with the identity ``kind``/``value`` (normalised here)."""
    if kind == "email":
        value = normalize_email(value)
    elif kind == "phone":
        value = normalize_phone(value)
    identity = db.session.scalar(
        select(CustomerIdentity).where(CustomerIdentity.kind == kind, CustomerIdentity.value == value)
    )
    return identity.customer if identity else None


def find_or_create_customer(contact: Contact) -> tuple[Customer, bool]:
    """Return the customer any identity of ``contact`` names (or a new one), and if it is new.

    Identities the contact brings that the customer lacks are added to it, so
    a caller who gives their email on the phone is one customer afterwards.
    """
    return find_or_create_customers([contact])[0]


def find_or_create_customers(contacts: list[Contact]) -> list[tuple[Customer, bool]]:
    """Return (customer, is new) for each contact, as ``find_or_create_customer`` does, in one SELECT and one flush.

    Contacts are resolved in order, so two contacts with the same address
    make one customer.
    """
    pairs = [_normalized(contact) for contact in contacts]
    if not all(pairs):
        raise InvalidIdentity("a customer needs an email address, a phone number or a visitor id")
    wanted = {pair for contact_pairs in pairs for pair in contact_pairs}
    by_kind: dict[str, list[str]] = {}
    for kind, value in wanted:
        by_kind.setdefault(kind, []).append(value)
    matches = [db.and_(CustomerIdentity.kind == k, CustomerIdentity.value.in_(v)) for k, v in by_kind.items()]
    found = select(CustomerIdentity).where(db.or_(*matches)).options(joinedload(CustomerIdentity.customer))
    known = {(i.kind, i.value): i for i in db.session.scalars(found)}
    results, changed = [], {}
    for contact, contact_pairs in zip(contacts, pairs, strict=True):
        found = [known[pair] for pair in contact_pairs if pair in known]
        customer = found[0].customer if found else None
        created = customer is None
        if created:
            customer = Customer(name=(contact.name or "").strip()[:200])
            db.session.add(customer)
        elif contact.name and not customer.name:
            customer.name = contact.name.strip()[:200]
        added = [(k, v) for k, v in contact_pairs if (k, v) not in known]
        for kind, value in added:
            identity = CustomerIdentity(kind=kind, value=value)
            customer.identities.append(identity)
            known[(kind, value)] = identity
        if created or added:
            changed[id(customer)] = (customer, created or changed.get(id(customer), (None, False))[1])
        results.append((customer, created))
    if changed:
        db.session.flush()
        search.index_new(customers=[customer for customer, new in changed.values() if new])
        for customer, new in changed.values():
            if not new:
                search.index_customer(customer)
    return results
