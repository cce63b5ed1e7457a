"""What agents see of a message: its body with remote images held back, its email decisions, its delivery."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from flask import url_for
from markupsafe import Markup
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import InboundEmail, Message

#: An <img> tag as nh3 writes it (attribute values always double-quoted).
_IMG = re.compile(r"<img\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I)
_ATTR = re.compile(r"\s+([^\s=/>]+)(?:\s*=\s*\"([^\"]*)\")?")
_REMOTE = re.compile(r"^(?:https?:)?//", re.I)
#: Meta keys shown elsewhere on the page or only useful to the code.
_NOT_DECISIONS = {"quoted", "raw", "kind", "reasons", "classification", "threading", "auto_reply", "defects",
                  "skipped_attachments", "parse_error", "participants", "sent_at"}


@dataclass(frozen=True)
class Body:
    """A message body ready for the page, and whether remote images were held back in it."""

    html: Markup | None
    held_back: int


def _cid(value: str) -> str:
    return value.strip().strip("<>").strip().lower()


def _rewrite_img(attrs_text: str, inline: dict[str, int], load_remote: bool) -> tuple[str, bool]:
    """Return the rebuilt <img> tag and whether a remote source was held back."""
    attrs = [(name.lower(), value) for name, value in _ATTR.findall(attrs_text)]
    held = False
    out = []
    for name, value in attrs:
        if name != "src":
            out.append((name, value))
            continue
        source = html.unescape(value or "").strip()
        if source.lower().startswith("cid:"):
            attachment_id = inline.get(_cid(source[4:]))
            if attachment_id is not None:
                out.append(("src", url_for("console.attachment_inline", attachment_id=attachment_id)))
            else:
                out.append(("data-missing-cid", value))
        elif _REMOTE.match(source):
            if load_remote:
                out.append(("src", value))
            else:
                out.append(("data-remote-src", value))
                held = True
        elif source.lower().startswith("data:image/"):
            out.append(("src", value))
        else:
            out.append(("data-blocked-src", value))  # relative URLs would hit our own pages
    rebuilt = "".join(f' {n}="{html.escape(html.unescape(v or ""), quote=True)}"' for n, v in out)
    return f"<img{rebuilt}>", held


def prepare_body(message: Message, load_remote: bool = False) -> Body:
    """Return the sanitised HTML body with cid: images pointed at their attachments and remote ones held back."""
    if not message.body_html:
        return Body(None, 0)
    inline = {_cid(a.content_id): a.id for a in message.attachments
              if a.content_id and a.content_type.lower() in INLINE_IMAGE_TYPES}
    held = 0

    def replace(match: re.Match) -> str:
        nonlocal held
        tag, was_held = _rewrite_img(match[1], inline, load_remote)
        held += was_held
        return tag

    return Body(Markup(_IMG.sub(replace, message.body_html)), held)


#: Image types an <img> may load inline; never SVG (it can carry script) or anything else.
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def decisions(message: Message) -> list[tuple[str, str]]:
    """Return what the desk decided about an incoming email, as (label, text) lines."""
    meta = message.meta or {}
    lines: list[tuple[str, str]] = []
    if meta.get("threading"):
        lines.append(("threading", str(meta["threading"])))
    if meta.get("classification"):
        reasons = "; ".join(meta.get("reasons") or [])
        lines.append(("classified", meta["classification"].replace("_", " ") + (f" ({reasons})" if reasons else "")))
    if meta.get("auto_reply"):
        lines.append(("auto-reply", str(meta["auto_reply"])))
    if meta.get("defects"):
        lines.append(("defects", "; ".join(map(str, meta["defects"]))))
    if meta.get("skipped_attachments"):
        lines.append(("skipped attachments", ", ".join(map(str, meta["skipped_attachments"]))))
    if meta.get("parse_error"):
        lines.append(("parse error", str(meta["parse_error"])))
    if meta.get("participants"):
        lines.append(("also addressed", ", ".join(map(str, meta["participants"]))))
    for key, value in meta.items():
        if key not in _NOT_DECISIONS:
            lines.append((key.replace("_", " "), str(value)))
    return lines


@dataclass(frozen=True)
class Delivery:
    """An outbound message's delivery as shown beside it."""

    text: str
    tone: str
    retry: bool = False


def delivery(message: Message) -> Delivery | None:
    """Return the delivery marker of a reply or automatic mail (None for messages not sent anywhere)."""
    if message.internal or message.delivery_status is None:
        return None
    if message.delivery_status == "sent":
        return Delivery("Sent", "sent")
    if message.delivery_status == "failed":
        return Delivery(f"Failed: {message.delivery_error or 'unknown error'}", "failed", retry=True)
    if message.delivery_error:
        return Delivery(f"Sending… (last try: {message.delivery_error})", "pending")
    return Delivery("Sending…", "pending")


def raw_sources(messages: list[Message]) -> set[int]:
    """Return the ids of the messages whose original email is stored."""
    ids = [m.id for m in messages if m.channel == "email" and m.author_type != "agent"]
    if not ids:
        return set()
    return set(db.session.scalars(select(InboundEmail.message_id).where(InboundEmail.message_id.in_(ids))))


def original_email(message: Message) -> InboundEmail | None:
    """Return the stored raw email a message was made from (the imported copy before any duplicate)."""
    return db.session.scalar(select(InboundEmail).where(InboundEmail.message_id == message.id)
                             .order_by((InboundEmail.status != "imported"), InboundEmail.id).limit(1))
