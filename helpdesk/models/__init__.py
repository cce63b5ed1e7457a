"""The database models, one module per aggregate."""

from helpdesk.models.agent import Agent, ApiToken, Team, team_member
from helpdesk.models.canned import CannedResponse
from helpdesk.models.chat import Conversation
from helpdesk.models.customer import Customer, CustomerIdentity
from helpdesk.models.event import TicketEvent
from helpdesk.models.mail import InboundEmail, Mailbox
from helpdesk.models.message import Attachment, Message
from helpdesk.models.selfservice import Deflection, PortalLoginToken, SatisfactionRating
from helpdesk.models.sla import AckTemplate, CalendarSettings, Closure, SlaClock, SlaPolicy
from helpdesk.models.ticket import Tag, Ticket, ticket_tag

__all__ = [
    "AckTemplate",
    "CalendarSettings",
    "Closure",
    "SlaClock",
    "SlaPolicy",
    "Agent",
    "ApiToken",
    "Attachment",
    "CannedResponse",
    "Conversation",
    "Customer",
    "InboundEmail",
    "Mailbox",
    "CustomerIdentity",
    "Deflection",
    "PortalLoginToken",
    "SatisfactionRating",
    "Message",
    "Tag",
    "Team",
    "Ticket",
    "TicketEvent",
    "team_member",
    "ticket_tag",
]
