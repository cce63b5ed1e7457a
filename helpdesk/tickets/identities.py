"""Find customers by any of their identities, and create them when unknown."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

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


@dataclass
class _NewCustomer:
    """A customer this call creates, before its row is written."""

    name: str
    pairs: list[tuple[str, str]]


def find_or_create_customers(contacts: list[Contact]) -> list[tuple[Customer, bool]]:
    """Return (customer, is new) for each contact, as ``find_or_create_customer`` does, in a few statements.

    Contacts are resolved in order, so two contacts with the same address
    make one customer. One SELECT finds the known identities; new customers
    and their identities are written with one INSERT each (a mail batch
    brings dozens); identities new to a known customer are flushed.
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
    #: Who each identity belongs to: a known customer, or one this call creates.
    owner: dict[tuple[str, str], Customer | _NewCustomer] = {
        (i.kind, i.value): i.customer for i in db.session.scalars(found)}
    chosen: list[Customer | _NewCustomer] = []
    fresh: list[_NewCustomer] = []
    grown: dict[int, Customer] = {}  #: known customers given identities they lacked
    for contact, contact_pairs in zip(contacts, pairs, strict=True):
        customer = next((owner[pair] for pair in contact_pairs if pair in owner), None)
        name = (contact.name or "").strip()[:200]
        if customer is None:
            customer = _NewCustomer(name, [])
            fresh.append(customer)
        elif name and not customer.name:
            customer.name = name
        for pair in contact_pairs:
            if pair in owner:
                continue
            owner[pair] = customer
            if isinstance(customer, _NewCustomer):
                customer.pairs.append(pair)
            else:
                customer.identities.append(CustomerIdentity(kind=pair[0], value=pair[1]))
                grown[id(customer)] = customer
        chosen.append(customer)
    made = _insert_customers(fresh)
    if grown:
        db.session.flush()
    if made:
        search.index_new(customers=list(made.values()))
    for customer in grown.values():
        search.index_customer(customer)
    first = {id(new): n for n, new in reversed(list(enumerate(chosen))) if isinstance(new, _NewCustomer)}
    return [(made[id(c)], first[id(c)] == n) if isinstance(c, _NewCustomer) else (c, False)
            for n, c in enumerate(chosen)]


def _insert_customers(fresh: list[_NewCustomer]) -> dict[int, Customer]:
    """Write new customers and their identities, one INSERT each; return the loaded Customers by draft."""
    if not fresh:
        return {}
    insert_customers = insert(Customer).returning(Customer, sort_by_parameter_order=True)
    customers = db.session.scalars(insert_customers, [{"name": new.name} for new in fresh]).all()
    insert_identities = insert(CustomerIdentity).returning(CustomerIdentity, sort_by_parameter_order=True)
    identities = db.session.scalars(insert_identities, [
        {"customer_id": customer.id, "kind": kind, "value": value}
        for customer, new in zip(customers, fresh, strict=True) for kind, value in new.pairs]).all()
    owned: dict[int, list[CustomerIdentity]] = {customer.id: [] for customer in customers}
    for identity in identities:
        owned[identity.customer_id].append(identity)
    for customer in customers:
        # The rows are all here: tell the ORM, so reading them asks nothing more.
        set_committed_value(customer, "identities", owned[customer.id])
        set_committed_value(customer, "account_owner", None)
    return {id(new): customer for new, customer in zip(fresh, customers, strict=True)}
