"""Fill an empty desk with a realistic set of customers, agents and tickets across channels."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from helpdesk import tickets
from helpdesk.accounts import save_agent, save_team
from helpdesk.extensions import db
from helpdesk.kb.demo import seed_kb_demo
from helpdesk.models import Agent, CannedResponse, Ticket
from helpdesk.models.base import utcnow

AGENTS = [
    ("sam.rivera@example.com", "Sam Rivera"),
    ("priya.natarajan@example.com", "Priya Natarajan"),
    ("jonas.weber@example.com", "Jonas Weber"),
]

#: (channel, name, email, phone, subject, body, priority, status, tags, hours ago)
TICKETS = [
    ("email", "Maria González", "maria@northwind.example", None, "Invoice INV-2291 charged twice",
     "Hello,\n\nMy card was charged twice for invoice INV-2291 this morning. Can you refund one of them?\n\nMaria",
     "high", "new", ["billing", "refund"], 1),
    ("web", "Tom Becker", "tom.becker@fastmail.example", None, "Cannot reset my password",
     "The reset link says it expired, every time, even when I click it immediately.", "normal", "open",
     ["login"], 3),
    ("chat", "Aiko Tanaka", "aiko@kumo.example", None, "Export to CSV is missing columns",
     "When I export the orders report the 'region' column is empty.", "normal", "open", ["reports"], 5),
    ("phone", "Robert Okafor", None, "+1 415 555 0142", "Delivery address change for order 88412",
     "Caller wants order 88412 delivered to his office instead: 500 Market St, Suite 300.", "high", "pending",
     ["orders"], 7),
    ("email", "Léa Dubois", "lea.dubois@atelier.example", None, "Question sur la facture de novembre",
     "Bonjour, pourriez-vous m'envoyer la facture de novembre avec notre numéro de TVA ?", "low", "open",
     ["billing"], 20),
    ("api", "Nadia Haddad", "nadia@orbit.example", None, "Webhook deliveries failing with 502",
     "Since 09:10 UTC every webhook to our endpoint fails with 502 from your side.", "urgent", "open",
     ["api", "incident"], 2),
    ("email", "Maria González", "maria@northwind.example", None, "Adding two seats to our plan",
     "We hired two people; can we add two seats from next month?", "normal", "solved", ["billing"], 72),
    ("web", "Chen Wei", "chen.wei@lotus.example", None, "Feature request: dark mode",
     "Our night shift would love a dark mode in the dashboard.", "low", "pending", ["feedback"], 30),
    ("chat", "Tom Becker", "tom.becker@fastmail.example", None, "Two-factor codes not arriving",
     "SMS codes take 10 minutes to arrive.", "high", "new", ["login", "2fa"], 0.5),
    ("email", "Grace Kim", "grace@harbor.example", None, "Contract renewal",
     "Our contract ends on 31 December. Who can we talk to about renewing for three years?", "normal", "new",
     ["sales"], 4),
    ("phone", "Aiko Tanaka", "aiko@kumo.example", "+81 3-1234-5678", "Follow-up call about CSV export",
     "Called back: the empty column only happens for orders from the EU store.", "normal", "open",
     ["reports"], 4.5),
    ("email", "Ivan Petrov", "ivan@steppe.example", None, "Account locked after failed logins",
     "I typed the wrong password a few times and now I'm locked out.", "normal", "closed", ["login"], 200),
    ("web", "Sofia Rossi", "sofia.rossi@vela.example", None, "Damaged item received",
     "The lamp in order 90017 arrived with a cracked shade. Photos attached in my next mail.", "high", "new",
     ["orders", "damage"], 0.2),
]

CANNED = [
    ("Thanks, looking into it",
     "Thanks for letting us know. I'm looking into this now and will get back to you today."),
    ("Refund issued", "I've issued the refund; it will show on your statement within 5 business days."),
    ("Password reset steps",
     "Please open https://example.com/reset, enter your email, and use the newest link we send."),
]


def seed_demo(only_if_empty: bool = False) -> str:
    """Create the demo desk; with ``only_if_empty``, only when there are no tickets yet."""
    if only_if_empty and db.session.scalar(select(func.count(Ticket.id))):
        return "demo data: the desk already has tickets, nothing added"
    agents = [
        db.session.scalar(select(Agent).where(Agent.email == email))
        or save_agent(email=email, name=name, password="demo-password-123")
        for email, name in AGENTS
    ]
    support = save_team("Support", "First line for every channel", ["email", "web", "chat", "phone"],
                        members=agents)
    save_team("Platform", "API and integrations", ["api"], members=agents[2:], lead=agents[2])
    support.lead = agents[0]
    for title, body in CANNED:
        if not db.session.scalar(select(CannedResponse).where(CannedResponse.title == title)):
            db.session.add(CannedResponse(title=title, body=body))
    db.session.flush()

    now = utcnow()
    for n, (channel, name, email, phone, subject, body, priority, status, tags, hours) in enumerate(TICKETS):
        received = tickets.receive(tickets.Inbound(
            channel=channel, contact=tickets.Contact(email=email, phone=phone, name=name), subject=subject,
            body_text=body, priority=priority, thread=False, received_at=now - timedelta(hours=hours),
        ))
        ticket = received.ticket
        ticket.created_at = ticket.updated_at = now - timedelta(hours=hours)
        ticket.ack_status = None  # demo customers are not real: send them nothing
        agent = agents[n % len(agents)]
        if status != "new":
            tickets.assign(ticket, agent, agent)
            greeting = f"Hi {name.split()[0]},\n\nThanks for reaching out. I'm on it.\n\n{agent.name}"
            tickets.reply(ticket, agent, greeting)
        if n % 4 == 1:
            tickets.add_note(ticket, agent, "Checked the logs: this matches the known issue from last week.")
        tickets.set_tags(ticket, tags, agent)
        tickets.set_status(ticket, status, agent)
        if name == "Maria González":
            ticket.customer.vip = True
            ticket.customer.account_owner = agents[1]
    seed_kb_demo()
    db.session.commit()
    return f"demo data: {len(TICKETS)} tickets, {len(AGENTS)} agents (password demo-password-123)"
