"""Turn the bytes of a received mail into a plain value, whatever shape the bytes are in.

Nothing here raises for any input: what could not be read is described in
``ParsedEmail.defects`` and the best text that could be recovered is kept.
"""

from __future__ import annotations

import codecs
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache

from helpdesk.channels.email.quotes import split_reply
from helpdesk.sanitize import html_to_text
from helpdesk.tickets.inbound import IncomingFile

_ID = re.compile(r"<([^<>\s]+)>")
_WORDS = r"[A-Za-z0-9'_-]+(?: [A-Za-z0-9'_-]+)*"
_MAILBOX = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
#: One mailbox in its plainest form, "Ada Lovelace <ada@example.com>" or "ada@example.com": for
#: these the standard address parser gives back the name and address as written.
_PLAIN_MAILBOX = re.compile(rf"(?:({_WORDS}) )?<({_MAILBOX})>|({_MAILBOX})")
_MAX_DEPTH = 30
#: Header values up to this length are parsed once for every message that has them.
_SHARED_LENGTH = 200
_KNOWN_HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "Content-Type", "Received", "MIME-Version")
#: File names for parts that mail programs send without one and mimetypes does not know.
_NAMES = {
    "message/rfc822": "message.eml",
    "message/delivery-status": "delivery-status.txt",
    "message/feedback-report": "feedback-report.txt",
    "text/rfc822-headers": "headers.txt",
    "message/rfc822-headers": "headers.txt",
}


@dataclass
class ParsedEmail:
    """A received mail as the email channel needs it."""

    message_id: str
    subject: str = ""
    from_address: str = ""
    from_name: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    reply_to: str | None = None
    date: datetime | None = None
    #: Ids without angle brackets.
    in_reply_to: list[str] = field(default_factory=list)
    #: References in their order, then any In-Reply-To id they lack.
    references: list[str] = field(default_factory=list)
    #: The whole plain-text body (derived from the HTML when there is no text part).
    text: str = ""
    #: The HTML body as received: unsanitised, until ``html_sanitized`` says otherwise.
    html: str | None = None
    #: ``html`` went through ``sanitize.clean_html`` (``reading.read`` does it, in the reading process).
    html_sanitized: bool = False
    #: What the customer wrote in this mail, without quoted history and signature.
    visible_reply: str = ""
    #: The folded-away rest: quoted history, signature.
    quoted: str = ""
    #: Attachments; ``inline`` marks an image the HTML shows through a ``cid:`` link.
    attachments: list[IncomingFile] = field(default_factory=list)
    #: The parsed message, for headers and MIME parts (None when even parsing failed).
    message: Message | None = field(default=None, repr=False)
    defects: list[str] = field(default_factory=list)
    parse_failed: bool = False

    def header(self, name: str) -> str:
        """Return the first ``name`` header (any case) as text, or "" when absent."""
        return next(iter(self.header_values(name)), "")

    def header_values(self, name: str) -> list[str]:
        """Return every ``name`` header (any case) as text."""
        return header_values(self.message, name) if self.message is not None else []


class _Headers(HeaderRegistry):
    """``policy.default``'s header registry, parsing each distinct header of one message once.

    The standard registry parses a header again every time it is read, and
    reading a message asks for its Content-Type about twenty times (the
    parser, then every ``get_content_type``, ``get_param`` and
    ``get_filename``); the header objects never change, so one parse each is
    the same answer for a fraction of the work. One registry per message keeps
    the memory a message's headers take; short values are also shared between
    messages (see ``_shared``).
    """

    #: The class built for each header kind, shared by every message's registry.
    _classes: dict[type, type] = {}

    def __init__(self):
        super().__init__()
        self._parsed: dict[tuple[str, str], object] = {}

    def __getitem__(self, name):
        # The standard registry builds a new class with type() for every header it parses, which
        # costs as much as parsing a short header; the class depends only on the header's kind.
        kind = self.registry.get(name.lower(), self.default_class)
        if kind not in self._classes:
            self._classes[kind] = super().__getitem__(name)
        return self._classes[kind]

    def __call__(self, name, value):
        key = (name, value)
        if key not in self._parsed:
            kind = self[name]
            self._parsed[key] = _shared(kind, name, value) if len(value) <= _SHARED_LENGTH else kind(name, value)
        return self._parsed[key]


@lru_cache(maxsize=1024)
def _shared(kind: type, name: str, value: str):
    """Return the header object ``kind(name, value)``, made once for every message that has it.

    Most parts of most mails say "text/plain; charset=utf-8" and "base64",
    and mail comes To the same few addresses: those parse once for the whole
    process. Header objects are immutable, so one object serves every message;
    only short values are kept, which bounds the cache's memory.
    """
    return kind(name, value)


def _unsurrogate(value: str) -> str:
    """Return ``value`` with raw 8-bit bytes the parser smuggled in decoded as UTF-8 or Latin-1."""
    try:
        raw = value.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("windows-1252", "replace")


def _decode_words(value: str) -> str:
    """Return ``value`` with RFC 2047 encoded words decoded, leaving it alone if they are broken."""
    value = _unsurrogate(value)
    try:
        return str(make_header(decode_header(value))) if "=?" in value else value
    except Exception:
        return value


def header_values(message: Message, name: str) -> list[str]:
    """Return every ``name`` header of ``message`` as decoded text, never raising."""
    values = []
    for key, raw in _raw(message, name):
        try:
            value = str(message.policy.header_fetch_parse(key, raw))
        except Exception:  # a header the policy cannot parse: fall back to its raw text
            value = str(raw)
        values.append(_decode_words(value))
    return values


def _first(message: Message, name: str) -> str:
    return next(iter(header_values(message, name)), "")


def parse_addresses(value) -> list[tuple[str, str]]:
    """Return ``(name, address)`` pairs from an address header value; addresses lower-cased."""
    pairs: list[tuple[str, str]] = []
    try:
        for group_address in getattr(value, "addresses", None) or ():
            pairs.append((str(group_address.display_name or ""), str(group_address.addr_spec or "")))
    except Exception:
        pairs = []
    if not pairs:
        try:
            pairs = getaddresses([_unsurrogate(str(value or ""))])
        except Exception:
            pairs = []
    result = []
    for name, address in pairs:
        address = _clean(_unsurrogate(address)).strip().strip("<>").strip().lower()
        if "@" in address and address not in ("@", "<>"):
            result.append((_decode_words(name).strip(), address))
    return result


def _address_header(message: Message, name: str) -> list[tuple[str, str]]:
    pairs = []
    for raw_key, raw in _raw(message, name):
        plain = _PLAIN_MAILBOX.fullmatch(raw) if isinstance(raw, str) else None
        if plain:  # most senders: the standard parser's answer, without its cost (a tenth of a reading)
            pairs.append((plain[1] or "", (plain[2] or plain[3]).lower()))
            continue
        try:
            pairs += parse_addresses(message.policy.header_fetch_parse(raw_key, raw))
        except Exception:
            pairs += parse_addresses(raw)
    return pairs


def _raw(message: Message, name: str) -> list[tuple[str, str]]:
    try:
        return [(k, v) for k, v in message.raw_items() if str(k).lower() == name.lower()]
    except Exception:
        return []


def _ids(value: str) -> list[str]:
    found = _ID.findall(value or "")
    return found if found else [token.strip("<>") for token in (value or "").split() if token.strip("<>")]


def _date(value: str, defects: list[str]) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except Exception:
        defects.append(f"unreadable Date header {value[:80]!r}")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _safe(read, default=None):
    """Return ``read()``, or ``default`` when a malformed header makes it raise."""
    try:
        return read()
    except Exception:
        return default


def decode_text(data: bytes, charset: str | None, defects: list[str]) -> str:
    """Decode ``data`` with its declared charset, else UTF-8, else Windows-1252/Latin-1; never raising."""
    declared = _safe(lambda: codecs.lookup(charset.strip()).name) if charset else None
    if charset and declared is None:
        defects.append(f"unknown charset {charset[:40]!r}")
    for candidate in filter(None, (declared, "utf-8")):
        text = _safe(lambda c=candidate: data.decode(c))
        if text is not None:
            return text
    if declared and declared != "ascii" and (text := _safe(lambda: data.decode(declared, "replace"))) is not None:
        defects.append(f"text is not valid {declared}; undecodable bytes replaced")
        return text
    return _safe(lambda: data.decode("windows-1252")) or data.decode("latin-1")


def _payload_bytes(part: Message) -> bytes:
    """Return a part's decoded content; message/* parts give their serialised messages."""
    payload = part.get_payload()
    if isinstance(payload, list):
        chunks = []
        for inner in payload:
            try:
                chunks.append(inner.as_bytes(policy=inner.policy.clone(linesep="\n")))
            except Exception:
                chunks.append(str(inner).encode("utf-8", "replace"))
        return b"\n".join(chunks)
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    return str(payload or "").encode("utf-8", "surrogateescape")


def _attachment(part: Message, ctype: str, data: bytes) -> IncomingFile:
    filename = _safe(part.get_filename)
    content_id = _clean(_first(part, "Content-ID")).strip().strip("<>").strip()[:255] or None
    inline = bool(content_id) and ctype.startswith("image/")  # until we know the HTML shows it
    if not filename:
        filename = _NAMES.get(ctype) or ("image" if inline else "attachment") + (
            mimetypes.guess_extension(ctype) or ".bin")
    return IncomingFile(_clean(_unsurrogate(str(filename))), ctype, data, content_id, inline)


class _Body:
    """Collects text, HTML and attachments while walking the MIME tree."""

    def __init__(self, defects: list[str]):
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.attachments: list[IncomingFile] = []
        self.defects = defects

    def walk(self, part: Message, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            self.defects.append("MIME nesting too deep; inner parts ignored")
            return
        self.defects.extend(f"{type(d).__name__}: {d}" for d in getattr(part, "defects", ()))
        ctype = _safe(part.get_content_type, "application/octet-stream")
        if part.is_multipart() and not ctype.startswith("message/"):
            for sub in part.get_payload():
                try:
                    self.walk(sub, depth + 1)
                except Exception as exc:  # one unreadable part must not cost the others
                    self.defects.append(f"unreadable part skipped: {exc!r}")
            late = _safe(lambda: _late_parts(part))
            if late is not None:
                self.defects.append(f"{ctype} has parts after its closing boundary; they are read too")
                self.walk(late, depth + 1)
            return
        try:
            data = _payload_bytes(part)
        except Exception as exc:
            self.defects.append(f"unreadable {ctype} part: {exc!r}")
            data = b""
        body_like = _safe(part.get_content_disposition) != "attachment" and not _safe(part.get_filename)
        charset = _safe(part.get_content_charset)
        if ctype.startswith("multipart/"):  # declared multipart but no parts were found
            self.defects.append(f"{ctype} without readable parts; its raw content is kept as text")
            self.texts.append(decode_text(data, charset, self.defects))
        elif ctype == "text/plain" and body_like:
            self.texts.append(decode_text(data, charset, self.defects))
        elif ctype == "text/html" and body_like:
            self.htmls.append(decode_text(data, charset, self.defects))
        else:
            self.attachments.append(_attachment(part, ctype, data))


def _late_parts(part: Message) -> Message | None:
    """Return the parts a broken mailer wrote after the closing boundary, as a multipart of their own."""
    boundary, epilogue = part.get_boundary(), part.epilogue or ""
    if not boundary or f"--{boundary}" not in epilogue:
        return None
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
    late = message_from_bytes((head + epilogue).encode("utf-8", "surrogateescape"), policy=part.policy)
    return late if late.is_multipart() else None


def _whole_file(raw: bytes) -> IncomingFile:
    if raw.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # an Outlook .msg (OLE compound file)
        return IncomingFile("message.msg", "application/vnd.ms-outlook", raw)
    return IncomingFile("message.bin", "application/octet-stream", raw)


def _clean(value: str) -> str:
    """Return ``value`` without NUL characters, which no database text column accepts."""
    return value.replace("\x00", "")


def _recover_parts(raw: bytes, message: Message, parse_policy) -> Message | None:
    """Return the body re-read with the boundary its parts really use, when the declared one is wrong."""
    if not message.get_content_maintype() == "multipart" or message.is_multipart():
        return None
    separator = re.search(rb"\r?\n\r?\n", raw)
    body = raw[separator.end() :] if separator else b""
    match = re.search(rb"(?m)^--([^\s]{1,200}?)(?:--)?\r?$", body)
    if match is None:
        return None
    boundary = match.group(1).decode("ascii", "replace").replace('"', "")
    head = f'Content-Type: {message.get_content_type()}; boundary="{boundary}"\n\n'.encode()
    recovered = message_from_bytes(head + body, policy=parse_policy)
    return recovered if recovered.is_multipart() else None


def _parse(raw: bytes, parse_policy) -> ParsedEmail:
    message = message_from_bytes(raw, policy=parse_policy)
    defects: list[str] = []
    ids = [i for i in _ids(_clean(_first(message, "Message-ID"))) if len(i) <= 900]
    message_id = ids[0] if ids else "sha256:" + hashlib.sha256(raw).hexdigest()
    in_reply_to = _ids(_first(message, "In-Reply-To"))
    references = _ids(" ".join(header_values(message, "References")))
    references += [i for i in in_reply_to if i not in references]
    senders = _address_header(message, "From") or _address_header(message, "Sender")
    from_name, from_address = senders[0] if senders else ("", "")
    reply_to = _address_header(message, "Reply-To")

    body = _Body(defects)
    root = message
    try:
        recovered = _recover_parts(raw, message, parse_policy)
    except Exception:
        recovered = None
    if recovered is not None:
        defects.append("declared MIME boundary not found; parts read with the boundary the body uses")
        defects.extend(f"{type(d).__name__}: {d}" for d in message.defects)
        root = recovered
    body.walk(root)
    html = "\n".join(body.htmls) if body.htmls else None
    text = "\n\n".join(t for t in body.texts if t.strip()) or (html_to_text(html) if html else "")
    if not text and not html and message.get_content_maintype() == "message":
        text = decode_text(_payload_bytes(message), None, defects)
    if b"\x00" in raw[:4096] and not any(_raw(message, name) for name in _KNOWN_HEADERS):
        defects.append("binary data without mail headers: kept as an attachment, not as text")
        text, html = "", None
        body.attachments = [_whole_file(raw)]
    text = _clean(text).replace("\r\n", "\n")
    html = _clean(html) if html is not None else None
    shown = (html or "").lower()
    body.attachments = [replace(a, inline=a.inline and f"cid:{a.content_id}".lower() in shown)
                        for a in body.attachments]
    visible, quoted = split_reply(text)
    return ParsedEmail(
        message_id=message_id,
        subject=" ".join(_clean(_first(message, "Subject")).split()),
        from_address=_clean(from_address),
        from_name=_clean(from_name),
        to=[address for _, address in _address_header(message, "To")],
        cc=[address for _, address in _address_header(message, "Cc")],
        reply_to=reply_to[0][1] if reply_to else None,
        date=_date(_first(message, "Date"), defects),
        in_reply_to=in_reply_to,
        references=references,
        text=text,
        html=html,
        visible_reply=visible,
        quoted=quoted,
        attachments=body.attachments,
        message=message,
        defects=[_clean(_unsurrogate(d))[:300] for d in dict.fromkeys(defects)],
    )


def parse_message(raw: bytes) -> ParsedEmail:
    """Parse the bytes of a mail; never raise, whatever they are."""
    try:
        raw = raw if isinstance(raw, bytes) else (
            raw.encode("utf-8", "replace") if isinstance(raw, str) else bytes(raw or b""))
    except Exception:
        raw = b""
    failures = []
    for parse_policy in (policy.default.clone(header_factory=_Headers()), policy.compat32):
        try:
            parsed = _parse(raw, parse_policy)
        except Exception as exc:  # any failure falls through to the next, simpler reading
            failures.append(f"{parse_policy.__class__.__name__} parse failed: {exc!r}")
            continue
        parsed.defects[:0] = failures
        return parsed
    text = _clean(raw.decode("utf-8", errors="replace"))
    return ParsedEmail(
        message_id="sha256:" + hashlib.sha256(raw).hexdigest(),
        text=text,
        visible_reply=text,
        defects=failures,
        parse_failed=True,
    )
