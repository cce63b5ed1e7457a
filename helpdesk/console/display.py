"""Template filters and globals that turn rows into what agents read."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_login import current_user

from helpdesk.console import bp
from helpdesk.models import TicketEvent
from helpdesk.models.ticket import CHANNELS, PRIORITIES, STATUSES
from helpdesk.tickets.queries import COUNT_CAP

CHANNEL_LABELS = {"email": "Email", "web": "Web", "chat": "Chat", "phone": "Phone", "api": "API"}


@bp.app_template_global("channel_label")
def channel_label(channel: str) -> str:
    """Return a channel's short display name."""
    return CHANNEL_LABELS.get(channel, channel)


@bp.app_template_filter("ago")
def ago(value: datetime | None) -> str:
    """Return how long ago ``value`` was, as people say it ("5 min ago")."""
    if value is None:
        return ""
    seconds = int((datetime.now(UTC) - value).total_seconds())
    if seconds < 60:
        return "just now"
    for size, unit in ((86400 * 365, "y"), (86400 * 30, "mo"), (86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


@bp.app_template_filter("stamp")
def stamp(value: datetime | None) -> str:
    """Return an absolute UTC time for titles and timelines."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


@bp.app_template_filter("count_label")
def count_label(count: int) -> str:
    """Return a capped view count as shown in the sidebar ("1000+")."""
    return f"{COUNT_CAP}+" if count >= COUNT_CAP else str(count)


def _who(event: TicketEvent) -> str:
    if event.actor_agent is not None:
        return event.actor_agent.name
    return {"customer": "Customer", "system": "System"}.get(event.actor_type, event.actor_type)


def _arrow(data: dict) -> str:
    return f"{data.get('from') or 'none'} → {data.get('to') or 'none'}"


_EVENT_TEXT = {
    "created": lambda d: f"created the ticket on {d.get('channel', '?')}" + (f" for {d['team']}" if d.get("team")
                                                                             else ""),
    "reply": lambda d: "replied",
    "note": lambda d: "added an internal note",
    "customer_message": lambda d: f"wrote again ({d.get('channel', '?')})",
    "status": lambda d: f"changed status {_arrow(d)}" + (f" ({d['reason']})" if d.get("reason") else ""),
    "priority": lambda d: f"changed priority {_arrow(d)}",
    "assignee": lambda d: f"changed assignee {_arrow(d)}",
    "team": lambda d: f"changed team {_arrow(d)}",
    "tags": lambda d: "changed tags" + "".join(
        [f" +{t}" for t in d.get("added", [])] + [f" −{t}" for t in d.get("removed", [])]
    ),
    "merged": lambda d: f"merged this ticket into {d.get('target')}",
    "merged_from": lambda d: f"merged {d.get('source')} into this ticket ({d.get('messages', 0)} messages)",
    "merged_customer": lambda d: "merged a ticket of another customer",
    "followed_up": lambda d: f"followed up in {d.get('by')}",
}


@bp.app_template_filter("event_text")
def event_text(event: TicketEvent) -> str:
    """Return one event-log line: who did what."""
    describe = _EVENT_TEXT.get(event.kind)
    if describe is None:
        details = ", ".join(f"{k}: {v}" for k, v in (event.data or {}).items())
        what = event.kind.replace("_", " ") + (f" ({details})" if details else "")
    else:
        what = describe(event.data or {})
    return f"{_who(event)} {what}"


@bp.app_context_processor
def _globals() -> dict:
    return {
        "CHANNELS": CHANNELS,
        "PRIORITIES": PRIORITIES,
        "STATUSES": STATUSES,
        "me": current_user,
    }
