"""The ticket service: the only code that writes tickets, whatever the channel."""

from helpdesk.tickets.appending import (
    TAKEN_COLUMNS,
    Appended,
    CustomerLine,
    append_customer_message,
    append_customer_messages,
    append_in_one_statement,
    one_statement,
    sql_list,
)
from helpdesk.tickets.batch import receive_many
from helpdesk.tickets.identities import Contact, InvalidIdentity, find_customer, find_or_create_customer
from helpdesk.tickets.inbound import Inbound, IncomingFile, Received, open_ticket, receive
from helpdesk.tickets.operations import (
    TicketError,
    add_note,
    assign,
    merge,
    reply,
    set_priority,
    set_status,
    set_tags,
    set_team,
)

__all__ = [
    "Appended",
    "Contact",
    "CustomerLine",
    "Inbound",
    "IncomingFile",
    "InvalidIdentity",
    "Received",
    "TAKEN_COLUMNS",
    "TicketError",
    "add_note",
    "append_customer_message",
    "append_customer_messages",
    "append_in_one_statement",
    "assign",
    "find_customer",
    "find_or_create_customer",
    "merge",
    "one_statement",
    "open_ticket",
    "receive",
    "receive_many",
    "reply",
    "set_priority",
    "set_status",
    "set_tags",
    "set_team",
    "sql_list",
]
