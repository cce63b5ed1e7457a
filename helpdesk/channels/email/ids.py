"""Our own Message-IDs: they name the message they came from and carry an HMAC,
so a reply's In-Reply-To finds its ticket and nobody can forge one that does."""

from __future__ import annotations

import hashlib
import hmac
import re

from flask import current_app

_OWN = re.compile(r"^hd\.(\d{1,18})\.([0-9a-f]{16})@", re.I)


def _signature(message_id: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"message:{message_id}".encode(), hashlib.sha256).hexdigest()[:16]


def support_domain() -> str:
    """Return the domain of the support address (the right side of our ids)."""
    return current_app.config["SUPPORT_ADDRESS"].rpartition("@")[2] or "localhost"


def make_message_id(message_id: int) -> str:
    """Return the Message-ID (without angle brackets) for our message ``message_id``."""
    return f"hd.{message_id}.{_signature(message_id)}@{support_domain()}"


def parse_own_id(value: str) -> int | None:
    """Return the message id an id of ours names, or None when it is not ours or is forged."""
    match = _OWN.match((value or "").strip().strip("<>"))
    if not match:
        return None
    message_id = int(match[1])
    return message_id if hmac.compare_digest(match[2].lower(), _signature(message_id)) else None
