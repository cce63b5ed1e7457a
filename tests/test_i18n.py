"""Languages: French from the browser, the switcher and the customer's setting; dates in their locale."""

from __future__ import annotations

from datetime import UTC, datetime

from helpdesk.extensions import db
from helpdesk.i18n import local_datetime
from helpdesk.portal import tokens


def test_french_from_accept_language(client):
    page = client.get("/contact", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="fr">' in page and '<label for="name">Nom</label>' in page and "Envoyer" in page
    page = client.get("/contact", headers={"Accept-Language": "de,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="en">' in page and '<label for="name">Name</label>' in page


def test_switcher_cookie_beats_the_browser(client):
    response = client.get("/language/fr?next=/contact")
    assert response.status_code == 302 and response.headers["Location"] == "/contact"
    assert "lang=fr" in response.headers["Set-Cookie"]
    page = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="fr">' in page and "Comment pouvons-nous vous aider ?" in page
    assert client.get("/language/de").status_code == 404
    assert client.get("/language/en?next=//evil.example/").headers["Location"] == "/"


def test_signed_in_customers_setting_wins(client, make_ticket):
    ticket = make_ticket(email="jeanne@example.com", name="Jeanne")
    ticket.customer.language = "fr"
    ticket.customer.timezone = "Europe/Paris"
    db.session.commit()
    client.set_cookie("lang", "en")
    client.post(tokens.issue(ticket.customer).split("5000", 1)[1])
    page = client.get("/portal/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="fr">' in page and "Mes demandes" in page
    # the switcher changes the setting of a signed-in customer
    client.get("/language/en")
    db.session.refresh(ticket.customer)
    assert ticket.customer.language == "en"
    assert '<html lang="en">' in client.get("/portal/").get_data(as_text=True)


def test_dates_in_the_customers_language_and_zone(app, make_ticket):
    ticket = make_ticket(email="zone@example.com")
    ticket.customer.timezone = "Europe/Paris"
    instant = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)
    assert local_datetime(instant, ticket.customer, "fr", "full").startswith("lundi 2 mars 2026")
    assert "17:30" in local_datetime(instant, ticket.customer, "fr", "full")
    assert "Monday, March 2, 2026" in local_datetime(instant, ticket.customer, "en", "full")


def test_thank_you_page_promises_the_date_in_french(client):
    client.post("/contact", headers={"Accept-Language": "fr"}, data={
        "name": "Jeanne", "email": "jeanne.fr@example.com", "category": "question", "subject": "Facture",
        "message": "Où est ma facture ?"})
    page = client.get("/contact/thanks", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="fr">' in page and "Votre référence est" in page
    from sqlalchemy import select

    from helpdesk.models import Ticket

    ticket = db.session.scalar(select(Ticket))
    assert ticket.customer.language == "fr"
    due = ticket.first_response_due_at
    french_day = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"][due.weekday()]
    assert french_day in page


def test_sign_in_email_is_in_french(app, make_ticket):
    from email import message_from_bytes

    from helpdesk.channels.email import smtp
    from helpdesk.portal import mail

    sent = []

    class Recorder:
        def send_message(self, message, to_addrs):
            sent.append(message_from_bytes(bytes(message)))

    ticket = make_ticket(email="fr@example.com", name="Jeanne")
    smtp._connection = Recorder()  # the SMTP client's connection slot; the message is built for real
    try:
        mail.send_sign_in(ticket.customer, "fr@example.com", "http://x/portal/sign-in/abc", "fr")
    finally:
        smtp._connection = None
    assert "Votre lien de connexion" in str(sent[0]["Subject"])
    assert "Bonjour Jeanne" in sent[0].get_payload(decode=True).decode()
