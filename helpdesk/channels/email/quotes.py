"""Tell what a customer wrote in a mail from the history and signature below it.

The work is done by ``email_reply_parser`` (GitHub's algorithm). Two small
steps around it cover what it misses: reply headers in other languages and
Outlook separators are cut off first, and a sentence that merely starts with
"Sent from my" is shielded so it is not taken for a phone's signature.
"""

from __future__ import annotations

import re

from email_reply_parser import EmailReplyParser

#: "Am ... schrieb X:", "Le ... a écrit :", ... possibly wrapped over up to three lines.
_LOCALISED_WROTE = re.compile(
    r"^[ \t]*(?:Am|Le|El|Il|Op|Em|W dniu|Den|På|Dne|V)\s(?=[^\n]*\d)[^\n]*(?:\n[^\n>]*){0,2}?"
    r"\b(?:schrieb|a\s+écrit|escribió|ha\s+scritto|schreef|escreveu|napisał(?:\(a\))?|skrev|napsal(?:\(a\))?)"
    r"(?:[^\n:]|\n(?!\s*\n)){0,160}?:[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
#: "-----Original Message-----" and its translations.
_SEPARATOR = re.compile(
    r"^[ \t]*-{3,}\s*(?:Original Message|Ursprüngliche Nachricht|Original-Nachricht|Message d'origine"
    r"|Mensaje original|Messaggio originale|Oorspronkelijk bericht|Mensagem original|Ursprungligt meddelande"
    r"|Forwarded message|Weitergeleitete Nachricht|Message transféré)\s*-{3,}[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
#: A localised Outlook header block: "Von: ..." followed closely by "Gesendet: ..." (or a date line).
_LOCALISED_HEADERS = re.compile(
    r"^[ \t]*\*?(?:Von|De|Da|Van|Från|Fra|Od|Из|От)\s?:\*?[ \t]+\S[^\n]*\n(?:[^\n]*\n){0,2}?"
    r"[ \t]*\*?(?:Gesendet|Envoyé|Inviato|Enviado|Verzonden|Skickat|Sendt|Wysłano|Отправлено|Datum|Date|Fecha|Data)"
    r"\s?:",
    re.MULTILINE,
)
#: "Sent from my ..." that is a device signature: one to three words and nothing else on the line.
_DEVICE_SIGNATURE = re.compile(r"^Sent from my (?:\w+\s*){1,3}$")
_SHIELD = "\ue000"


def _shield_sentences(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith("Sent from my ") and not _DEVICE_SIGNATURE.match(stripped):
            line = line.replace("Sent from my", f"Sent{_SHIELD}from my", 1)
        lines.append(line)
    return "\n".join(lines)


def _library_split(text: str) -> tuple[str, str]:
    message = EmailReplyParser.read(_shield_sentences(text))
    visible = "\n".join(f.content for f in message.fragments if not (f.hidden or f.quoted))
    rest = "\n\n".join(f.content for f in message.fragments if (f.hidden or f.quoted) and f.content)
    return visible.replace(_SHIELD, " ").strip(), rest.replace(_SHIELD, " ").strip()


def _first_marker(text: str) -> re.Match | None:
    """Return the first reply header the library does not know, if any."""
    found = [m for pattern in (_LOCALISED_WROTE, _SEPARATOR, _LOCALISED_HEADERS) if (m := pattern.search(text))]
    return min(found, key=lambda m: m.start()) if found else None


def _split(text: str) -> tuple[str, str]:
    marker = _first_marker(text)
    if marker is None:
        return _library_split(text)
    head, header, tail = text[: marker.start()], marker.group(0).strip(), text[marker.end() :]
    if head.strip():  # top-posted: everything from the header down is history
        visible, rest = _library_split(head)
        return visible, "\n\n".join(part for part in (rest, header + tail) if part.strip())
    # the header opens the mail: the customer answered below (or between) the quoted lines
    visible, rest = _library_split(tail)
    return visible, "\n\n".join(part for part in (header, rest) if part)


def split_reply(text: str) -> tuple[str, str]:
    """Split a mail body into what the customer wrote now and the folded history/signature."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return "", ""
    try:
        visible, rest = _split(text)
    except Exception:  # the library is regex-heavy; never lose a customer's words to it
        return text.strip(), ""
    if not visible:
        return text.strip(), ""
    return visible, rest
