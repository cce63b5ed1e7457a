"""Tell mail a person wrote from mail a machine sent: auto-replies, absences, bounces, lists, our own.

The rules are RFC 3834 plus the union of what Zammad, osTicket and FreeScout
look at. Every header value is compared case-insensitively, and every rule
that fired is kept as a reason an agent can read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_string, policy
from email.message import Message

from helpdesk.channels.email.parse import ParsedEmail, header_values

KINDS = ("human", "auto_reply", "out_of_office", "bounce", "list", "own")

_MESSAGE_ID = re.compile(r"(?im)^[ \t>]*Message-ID:[ \t]*<?([^<>\s]+@[^<>\s]+?)>?[ \t]*$")
_ADDRESS = r"<?([^\s<>()\"',;:@]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?"
_RECIPIENT_TEXT = [
    re.compile(rf"(?m)^[ \t]*{_ADDRESS}[ \t]*(?:$|[:(]|\.\.\.)"),
    re.compile(rf"(?i)(?:was addressed to|delivery failed[^:\n]*:|recipients?[^:\n]{{0,40}}:)\s*{_ADDRESS}"),
]
_BOUNCE_SENDERS = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)$")
_NOREPLY_SENDERS = re.compile(r"^(?:no-?reply|do-?not-?reply|donotreply|no\.reply|noreply[-+.].*|.*[-+.]noreply)$")
_BOUNCE_SUBJECT = re.compile(
    r"(?i)^(?:undeliver|undelivered mail|delivery status notification|delivery (?:failure|has failed|notification)"
    r"|returned mail|mail delivery (?:failed|system)|failure notice|non[- ]?delivery|unzustellbar"
    r"|nicht zustellbar|non remis|delayed mail)"
)
_ABSENCE_SUBJECT = re.compile(
    r"(?i)^\s*(?:out of (?:the )?office|automatic reply\b|auto(?:matic)?[- ]?reply\s*:|auto\s*:|autosvar"
    r"|abwesenheit|automatische antwort|réponse automatique|absence\s*:|absent\s*:|fuera de (?:la )?oficina"
    r"|respuesta automática|risposta automatica|fuori sede|afwezig|automatisch antwoord|on vacation"
    r"|vacation (?:reply|notice)|away from (?:the )?office|i am (?:currently )?out of)"
)
_SUPPRESS = {"all", "dr", "ndr", "rn", "nrn", "oof", "autoreply"}
_PRECEDENCE = {"bulk": "auto_reply", "junk": "auto_reply", "auto_reply": "auto_reply", "list": "list"}


@dataclass
class Classification:
    """What kind of mail this is and why we think so."""

    kind: str = "human"
    reasons: list[str] = field(default_factory=list)
    #: For a bounce: the Message-ID (without <>) of our mail that could not be delivered.
    bounced_message_id: str | None = None
    #: For a bounce: the addresses that failed (lower-cased).
    bounced_recipients: list[str] = field(default_factory=list)
    #: A bounce that is really a recipient's spam complaint (ARF feedback report).
    complaint: bool = False
    #: A delay warning (every delivery report says "Action: delayed"): the mail may still arrive.
    delayed: bool = False

    @property
    def machine(self) -> bool:
        """Return True for any mail a machine sent: never answer it, never acknowledge it."""
        return self.kind != "human"


def _value(parsed: ParsedEmail, name: str) -> str:
    return " ".join(parsed.header(name).split())


def _token(value: str) -> str:
    return re.split(r"[;(\s]", value.strip(), maxsplit=1)[0].lower()


def _report_type(parsed: ParsedEmail) -> tuple[str, str]:
    message = parsed.message
    if message is None:
        return "", ""
    try:
        return message.get_content_type(), str(message.get_param("report-type") or "").lower()
    except Exception:
        return "", ""


def _signals(parsed: ParsedEmail, own_addresses: set[str]) -> dict[str, list[str]]:
    """Return the reasons found, keyed by the kind each one points to."""
    found: dict[str, list[str]] = {kind: [] for kind in KINDS}
    sender = parsed.from_address.lower()
    local = sender.split("@", 1)[0]
    if sender and sender in {address.lower() for address in own_addresses}:
        found["own"].append(f"sender {sender} is one of our own addresses")

    ctype, report = _report_type(parsed)
    if ctype == "multipart/report" and report in ("delivery-status", "delivery-notification"):
        found["bounce"].append(f"multipart/report {report}")
    elif ctype == "multipart/report" and report == "feedback-report":
        found["bounce"].append("complaint (feedback-report)")
    elif ctype in ("message/delivery-status", "message/feedback-report"):
        found["bounce"].append(f"content type {ctype}")
    if _BOUNCE_SENDERS.match(local):
        found["bounce"].append(f"sender {local}")
    if parsed.header("X-Failed-Recipients"):
        found["bounce"].append("X-Failed-Recipients")
    null_path = any(v.strip() == "<>" for v in parsed.header_values("Return-Path") + parsed.header_values(
        "X-Envelope-From"))
    if null_path:
        target = "bounce" if _BOUNCE_SUBJECT.match(parsed.subject) or found["bounce"] else "auto_reply"
        found[target].append("null Return-Path <>")
    if found["bounce"] and _BOUNCE_SUBJECT.match(parsed.subject):
        found["bounce"].append(f"subject {parsed.subject[:60]!r}")

    auto_submitted = _value(parsed, "Auto-Submitted")
    if auto_submitted and _token(auto_submitted) != "no":
        found["auto_reply"].append(f"Auto-Submitted: {auto_submitted}")
    precedence = _token(_value(parsed, "Precedence"))
    if precedence in _PRECEDENCE:
        found[_PRECEDENCE[precedence]].append(f"Precedence: {precedence}")
    suppress = _value(parsed, "X-Auto-Response-Suppress")
    suppressed = {item.strip().lower() for item in suppress.split(",")} & _SUPPRESS
    if suppressed:
        found["auto_reply"].append(f"X-Auto-Response-Suppress: {suppress}")
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autogenerated", "X-Auto-Reply", "X-Loop"):
        value = _value(parsed, name)
        if parsed.header_values(name) and _token(value) not in ("no", "false", "0"):
            found["auto_reply"].append(f"{name}: {value}".rstrip(": "))
    if _NOREPLY_SENDERS.match(local):
        found["auto_reply"].append(f"sender {local}")
    for name in ("List-Id", "List-Unsubscribe", "List-Post"):
        if parsed.header_values(name):
            found["list"].append(name)

    if _ABSENCE_SUBJECT.match(parsed.subject):
        found["out_of_office"].append(f"subject {parsed.subject[:60]!r}")
    elif "oof" in suppressed and auto_submitted and _token(auto_submitted) != "no":
        found["out_of_office"].append("X-Auto-Response-Suppress: OOF with Auto-Submitted")
    return found


def classify(parsed: ParsedEmail, own_addresses: set[str]) -> Classification:
    """Return what kind of mail ``parsed`` is, with every reason that fired."""
    found = _signals(parsed, own_addresses)
    kind = next((k for k in ("own", "bounce", "out_of_office", "auto_reply", "list") if found[k]), "human")
    reasons = found[kind] + [reason for other in KINDS if other != kind for reason in found[other]]
    result = Classification(kind=kind, reasons=reasons)
    if kind == "bounce":
        result.complaint = "complaint (feedback-report)" in found["bounce"] or _report_type(parsed)[0] == (
            "message/feedback-report")
        result.bounced_message_id = bounced_message_id(parsed)
        result.bounced_recipients = bounced_recipients(parsed)
        actions = [a.lower() for part in _parts(parsed) if _content_type(part) == "message/delivery-status"
                   for block in _blocks(part) for a in header_values(block, "Action")]
        result.delayed = bool(actions) and all(a.strip() == "delayed" for a in actions)
    return result


def _parts(parsed: ParsedEmail) -> list[Message]:
    try:
        return list(parsed.message.walk()) if parsed.message is not None else []
    except Exception:
        return []


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return ""


def _blocks(part: Message) -> list[Message]:
    """Return the header blocks of a delivery-status or feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    try:  # some mailers send the report as plain text: read it as header blocks ourselves
        text = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    except Exception:
        return []
    return [message_from_string(block.strip() + "\n", policy=policy.compat32) for block in re.split(r"\n\s*\n", text)
            if block.strip()]


def _headers_of(part: Message) -> Message | None:
    """Return the returned message's headers held by a message/rfc822 or *rfc822-headers part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload[0] if payload and isinstance(payload[0], Message) else None
    text = part.get_payload(decode=True)
    if not isinstance(text, bytes):
        return None
    return message_from_string(text.decode("utf-8", "replace"), policy=policy.compat32)


def bounced_message_id(parsed: ParsedEmail) -> str | None:
    """Return the Message-ID of the mail a bounce returns, from its attached copy or its text."""
    own = parsed.message_id
    for part in _parts(parsed)[1:]:
        if _content_type(part) not in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            continue
        try:
            headers = _headers_of(part)
            values = header_values(headers, "Message-ID") if headers is not None else []
        except Exception:
            values = []
        ids = [v.strip().strip("<>").strip() for v in values if v.strip().strip("<>").strip()]
        if ids and ids[0] != own:
            return ids[0]
    texts = [parsed.text] + [f.data.decode("utf-8", "replace") for f in parsed.attachments
                             if f.content_type.startswith(("text/", "message/"))]
    for text in texts:
        for found in _MESSAGE_ID.findall(text or ""):
            if found != own:
                return found
    return parsed.in_reply_to[0] if parsed.in_reply_to else None


def bounced_recipients(parsed: ParsedEmail) -> list[str]:
    """Return the addresses a bounce reports as failed, from its delivery report or its text."""
    found: list[str] = []
    for part in _parts(parsed):
        if _content_type(part) not in ("message/delivery-status", "message/feedback-report"):
            continue
        for block in _blocks(part):
            for name in ("Final-Recipient", "Original-Recipient", "Original-Rcpt-To"):
                for value in header_values(block, name):
                    address = value.split(";", 1)[-1].strip().strip("<>").strip().lower()
                    if "@" in address:
                        found.append(address)
    for value in parsed.header_values("X-Failed-Recipients"):
        found += [a.strip().strip("<>").lower() for a in value.split(",") if "@" in a]
    if not found:
        for pattern in _RECIPIENT_TEXT:
            found += [address.lower() for address in pattern.findall(parsed.text or "")]
    return list(dict.fromkeys(found))
