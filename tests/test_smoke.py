"""A first pass over the core: receive, reply, list through the API."""

from helpdesk import tickets
from helpdesk.extensions import db


def test_receive_then_reply_via_api(api, make_ticket):
    ticket = make_ticket(subject="Printer on fire", email="Bob@Example.com")
    again = make_ticket(subject="Still on fire", email="bob@example.com")
    assert again.customer_id == ticket.customer_id
    listed = api.get("/tickets").get_json()
    assert [t["reference"] for t in listed["items"]] == [again.reference, ticket.reference]
    response = api.post(f"/tickets/{ticket.reference}/messages", json={"body": "Put it out."})
    assert response.status_code == 201, response.get_json()
    detail = api.get(f"/tickets/{ticket.reference}").get_json()
    assert [m["author_type"] for m in detail["messages"]] == ["customer", "agent"]
    assert detail["status"] == "open"
    found = api.get("/tickets?q=fire").get_json()["items"]
    assert {t["reference"] for t in found} == {ticket.reference, again.reference}
    db.session.expire_all()
    assert tickets.find_customer("email", "BOB@example.com").id == ticket.customer_id
