"""The registry of channels: how each one is shown and how a reply reaches the customer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Channel:
    """What the rest of the desk needs to know about one channel."""

    name: str
    label: str
    #: Called after the commit with a public agent message's id to send it.
    deliver: Callable[[int], None] | None
    #: Whether new tickets on it get the emailed acknowledgement.
    acknowledged: bool = False


_REGISTRY: dict[str, Channel] = {}


def register(channel: Channel) -> None:
    """Add or replace a channel in the registry."""
    _REGISTRY[channel.name] = channel


def get(name: str) -> Channel:
    """Return the channel called ``name``."""
    return _REGISTRY[name]


def all_channels() -> list[Channel]:
    """Return every registered channel."""
    return list(_REGISTRY.values())


def deliver_by_email(message_id: int) -> None:
    """Queue a public reply for sending by SMTP."""
    from workers.queues import enqueue

    enqueue("workers.mail.send_message", message_id, queue_name="mail")


def deliver_live(message_id: int) -> None:
    """Push a public reply to the customer's open chat (and email if they left)."""
    from helpdesk.channels.chat.delivery import deliver_chat_message

    deliver_chat_message(message_id)


register(Channel("email", "Email", deliver_by_email, acknowledged=True))
register(Channel("web", "Web form", deliver_by_email, acknowledged=True))
register(Channel("chat", "Chat", deliver_live))
register(Channel("phone", "Phone", deliver_by_email))
register(Channel("api", "API", deliver_by_email))
