"""Jobs of the customer portal."""

from __future__ import annotations

from helpdesk.channels.email import outbound
from helpdesk.extensions import db
from helpdesk.models import Customer
from workers.app import get_app


def send_sign_in_link(customer_id: int, language: str = "en") -> str:
    """Create a fresh single-use sign-in link for the customer and email it."""
    from helpdesk.portal import mail, tokens

    with get_app().app_context():
        customer = db.session.get(Customer, customer_id)
        address = next((i.value for i in customer.identities if i.kind == "email" and not i.undeliverable),
                       None) if customer else None
        if address is None:
            return "no address"
        link = tokens.issue(customer)
        db.session.commit()
        mail.send_sign_in(customer, outbound.one_line(address), link, language)
        return "sent"
