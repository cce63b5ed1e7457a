"""Turn fetched raw messages into tickets, exactly once.

The raw bytes are stored (disk + an InboundEmail row, committed) before any
parsing (``stage``), then read (parsed and classified, in worker processes
for a large batch) while the previous batch is imported. A batch is imported
set-based by ``tickets.receive_many`` and commits together with the mailbox's
new ``last_uid`` (``finish``); should that fail, it is redone one message per
savepoint, so one bad message never blocks the others. Import is idempotent
on the Message-ID (a hash of the raw message when it has none), so fetching a
message twice makes one ticket.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from helpdesk import storage, tickets
from helpdesk.channels.email.classify import Classification, classify
from helpdesk.channels.email.loops import own_addresses
from helpdesk.channels.email.parse import ParsedEmail
from helpdesk.channels.email.reading import Reader, Reading, read
from helpdesk.extensions import db
from helpdesk.models import CustomerIdentity, InboundEmail, Mailbox, Message
from helpdesk.models.base import utcnow

log = logging.getLogger(__name__)

#: Reads every batch inline (tests, uploads, the watcher's small passes).
INLINE = Reader(processes=0)


@dataclass(frozen=True)
class Fetched:
    """One message as IMAP returned it."""

    uid: int | None
    raw: bytes
    internal_date: datetime | None = None


@dataclass
class StoredRaw:
    """A stored raw message as the import reads and sets it: its InboundEmail row's values, not the row.

    ``import_one`` and ``import_rows`` take these or InboundEmail rows alike;
    ``finish`` writes what they set with one UPDATE for the batch.
    """

    id: int
    sha256: str
    status: str = "stored"
    message_id: int | None = None
    error: str | None = None


def _contact(parsed: ParsedEmail, sha256: str) -> tickets.Contact:
    if parsed.from_address:
        try:
            tickets.identities.normalize_email(parsed.from_address)
            return tickets.Contact(email=parsed.from_address, name=parsed.from_name or None)
        except tickets.InvalidIdentity:
            pass
    # No usable sender: keep the message under a stand-in customer rather than drop it.
    return tickets.Contact(visitor=f"email-unknown:{sha256[:16]}", name=parsed.from_name or "Unknown sender")


def _bounce_target(classification) -> Message | None:
    original = classification.bounced_message_id
    if not original:
        return None
    return db.session.scalar(select(Message).where(Message.external_id == original.strip("<>")))


def _mark_undeliverable(recipients) -> None:
    addresses = [r.strip().lower() for r in recipients or [] if r]
    if addresses:
        db.session.execute(
            update(CustomerIdentity)
            .where(CustomerIdentity.kind == "email", CustomerIdentity.value.in_(addresses))
            .values(undeliverable=True)
        )


def to_inbound(parsed: ParsedEmail, sha256: str, classification: Classification | None = None) -> tickets.Inbound:
    """Return what the ticket service needs from a parsed message, with every decision noted."""
    classification = classification or classify(parsed, own_addresses())
    meta: dict = {"classification": classification.kind, "reasons": list(classification.reasons)}
    if parsed.defects:
        meta["defects"] = parsed.defects[:20]
    if parsed.quoted:
        meta["quoted"] = parsed.quoted[:100_000]
    inbound = tickets.Inbound(
        channel="email",
        contact=_contact(parsed, sha256),
        subject=parsed.subject,
        body_text=parsed.visible_reply or parsed.text,
        body_html=parsed.html,
        body_html_sanitized=parsed.html_sanitized,
        external_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        participants=[a for a in [*parsed.to, *parsed.cc] if a.lower() not in own_addresses()],
        attachments=parsed.attachments,
        machine=classification.machine,
        meta=meta,
    )
    if classification.kind == "bounce":
        _mark_undeliverable(classification.bounced_recipients)
        original = _bounce_target(classification)
        if original is not None:
            inbound.ticket_id, inbound.author_type = original.ticket_id, "system"
            meta["bounce_of"] = original.id
    if classification.machine:
        meta["auto_reply"] = f"{classification.kind.replace('_', ' ')}: {'; '.join(classification.reasons)}, " \
                             "no acknowledgement"
    return inbound


def _unparsed(raw: bytes, sha256: str, error: str) -> tickets.Inbound:
    text = raw.decode("utf-8", errors="replace")
    return tickets.Inbound(
        channel="email",
        contact=tickets.Contact(visitor=f"email-unknown:{sha256[:16]}", name="Unknown sender"),
        subject="(message that could not be read)",
        body_text=text[:200_000],
        external_id=f"sha256:{sha256}",
        machine=True,
        meta={"parse_error": error, "raw": True, "auto_reply": "unreadable message, no acknowledgement"},
    )


def inbound_for(row: InboundEmail | StoredRaw, raw: bytes, reading: Reading) -> tickets.Inbound:
    """Return the Inbound of a read message; an unreadable one becomes its raw text under a stand-in sender."""
    parsed = reading.parsed
    if parsed is None:
        log.error("could not parse inbound email %s: %s", row.id, reading.error)
        return _unparsed(raw, row.sha256, reading.error or "unknown error")
    if reading.classification is None:
        return _unparsed(raw, row.sha256, "; ".join(parsed.defects) or "nothing readable")
    return to_inbound(parsed, row.sha256, reading.classification)


def _receive_in_savepoint(row: InboundEmail | StoredRaw, inbound: tickets.Inbound) -> None:
    with db.session.begin_nested():
        _note(row, tickets.receive(inbound))


def _note(row: InboundEmail | StoredRaw, received: tickets.Received) -> None:
    row.message_id = received.message_id
    row.status = "duplicate" if received.duplicate else "imported"


def import_one(row: InboundEmail | StoredRaw, raw: bytes, reading: Reading | None = None) -> str:
    """Import one stored raw message inside a savepoint; return its new status.

    A message that cannot be parsed or imported is imported again as raw text
    under a stand-in sender, so agents always see it.
    """
    try:
        inbound = inbound_for(row, raw, reading or read(raw, frozenset(own_addresses())))
    except Exception as exc:  # a bounce's lookups failed, say: keep the mail, raw
        log.exception("could not read inbound email %s", row.id)
        inbound = _unparsed(raw, row.sha256, f"{type(exc).__name__}: {exc}")
    try:
        _receive_in_savepoint(row, inbound)
        return row.status
    except IntegrityError:
        # Another process committed the same Message-ID first: this copy is a duplicate.
        row.status = "duplicate"
        return row.status
    except Exception as exc:
        log.exception("could not import inbound email %s; storing it raw", row.id)
        row.error = f"{type(exc).__name__}: {exc}"[:2000]
    try:
        fallback = _unparsed(raw, row.sha256, row.error)
        fallback.external_id = f"raw:{row.sha256}"
        _receive_in_savepoint(row, fallback)
    except Exception:
        log.exception("could not store inbound email %s even raw", row.id)
        row.status = "failed"
    return row.status


def import_rows(rows: list[InboundEmail] | list[StoredRaw], raws: list[bytes], readings: list[Reading]) -> list[str]:
    """Import stored messages together in the open transaction; return their statuses.

    The whole batch goes through ``tickets.receive_many`` (set-based, one
    flush). Should anything in it fail, the transaction is rolled back and the
    batch redone one message per savepoint, so one bad message never holds the
    others and nothing is lost (the raw messages were committed before).
    """
    if not rows:
        return []
    try:
        inbounds = [inbound_for(row, raw, reading) for row, raw, reading in zip(rows, raws, readings, strict=True)]
        for row, received in zip(rows, tickets.receive_many(inbounds), strict=True):
            _note(row, received)
        db.session.flush()
        return [row.status for row in rows]
    except Exception:
        log.exception("importing a batch of %d messages failed; importing them one by one", len(rows))
        db.session.rollback()
        for row in rows:  # what the batch noted of its messages was rolled back with it
            row.status, row.message_id, row.error = "stored", None, None
    return [import_one(row, raw, reading) for row, raw, reading in zip(rows, raws, readings, strict=True)]


def _store_raw(mailbox: Mailbox | None, uidvalidity: int | None, batch: list[Fetched]) -> list[StoredRaw]:
    """Write each raw message to disk and record it, committed; return each one's row, as a StoredRaw.

    A message fetched before (same mailbox, UIDVALIDITY and UID) keeps its row.
    Rows are written with one INSERT and no ORM objects: the stager does this
    for every batch, beside the importer, and both share one interpreter.
    """
    existing: dict[int, StoredRaw] = {}
    uids = [f.uid for f in batch if f.uid is not None]
    if mailbox is not None and uids:
        found = select(InboundEmail.uid, InboundEmail.id, InboundEmail.sha256, InboundEmail.status).where(
            InboundEmail.mailbox_id == mailbox.id, InboundEmail.uidvalidity == uidvalidity, InboundEmail.uid.in_(uids))
        existing = {uid: StoredRaw(row_id, sha256, status) for uid, row_id, sha256, status in db.session.execute(found)}
    new = [i for i, item in enumerate(batch) if item.uid not in existing]
    values = [{"mailbox_id": mailbox.id if mailbox is not None else None, "uidvalidity": uidvalidity,
               "uid": batch[i].uid, "sha256": storage.store(batch[i].raw, limit=None), "size": len(batch[i].raw),
               "status": "stored", "received_at": utcnow()} for i in new]
    ids = list(db.session.scalars(insert(InboundEmail).returning(InboundEmail.id, sort_by_parameter_order=True),
                                  values)) if values else []
    db.session.commit()
    made = {i: StoredRaw(row_id, row["sha256"]) for i, row_id, row in zip(new, ids, values, strict=True)}
    return [made[i] if i in made else existing[item.uid] for i, item in enumerate(batch)]


def store_raw(mailbox: Mailbox | None, uidvalidity: int | None, batch: list[Fetched]) -> list[InboundEmail]:
    """Write each raw message to disk and record it, committing before any parsing; return the rows, in order."""
    ids = [row.id for row in _store_raw(mailbox, uidvalidity, batch)]
    loaded = {row.id: row for row in db.session.scalars(select(InboundEmail).where(InboundEmail.id.in_(ids)))}
    return [loaded[row_id] for row_id in ids]


@dataclass
class Staged:
    """A batch whose raw messages are committed and being read, waiting to be imported."""

    batch: list[Fetched]
    #: The InboundEmail rows, in batch order (as values: the batch may be staged in another session).
    rows: list[StoredRaw]
    #: The rows to import (the others were imported by an earlier pass), and their readings.
    todo: list[int]
    readings: Future


def stage(mailbox: Mailbox | None, uidvalidity: int | None, batch: list[Fetched], reader: Reader | None = None
          ) -> Staged:
    """Store a batch's raw messages (committed) and start reading the ones still to import."""
    stored = _store_raw(mailbox, uidvalidity, batch)
    # A row already imported was committed by an earlier pass: this fetch is a repeat.
    todo = [i for i, row in enumerate(stored) if row.status not in ("imported", "duplicate")]
    raws = [batch[i].raw for i in todo]
    readings = (reader or INLINE).submit(raws, frozenset(own_addresses()))
    return Staged(batch, stored, todo, readings)


def finish(mailbox: Mailbox | None, staged: Staged, waiting: int = 0) -> dict[str, int]:
    """Import a staged batch and commit it with the mailbox's progress; return counts by status.

    The progress: the new ``last_uid`` and lag, and ``record_progress`` with
    the messages the pass has still ``waiting`` after this batch.
    """
    now = utcnow()
    batch, rows = staged.batch, staged.rows
    todo = [rows[i] for i in staged.todo]
    raws = [batch[i].raw for i in staged.todo]
    readings = staged.readings.result()
    statuses = import_rows(todo, raws, readings)
    if todo:
        db.session.execute(_SET_OUTCOME, [{"row_id": row.id, "status": row.status, "message_id": row.message_id,
                                           "error": row.error} for row in todo])
    counts: dict[str, int] = {"duplicate": len(rows) - len(staged.todo)} if len(rows) > len(staged.todo) else {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    if mailbox is not None:
        uids = [f.uid for f in batch if f.uid is not None]
        if uids:
            mailbox.last_uid = max(mailbox.last_uid or 0, *uids)
        dates = [f.internal_date for f in batch if f.internal_date]
        if dates:
            mailbox.lag_seconds = max(0.0, (now - max(dates)).total_seconds())
        record_progress(mailbox, waiting)
    db.session.commit()
    return counts


def record_progress(mailbox: Mailbox, waiting: int) -> None:
    """Note the messages a pass has still to import; with none left, that the pass succeeded (not committed)."""
    mailbox.waiting = waiting
    if not waiting:
        mailbox.last_sync_at = mailbox.last_success_at = utcnow()
        mailbox.last_error = None


_inbound = InboundEmail.__table__
#: What importing did to each stored row (see StoredRaw), the batch's rows in one statement.
_SET_OUTCOME = update(_inbound).where(_inbound.c.id == bindparam("row_id")).values(
    status=bindparam("status"), message_id=bindparam("message_id"), error=bindparam("error"))


def process_batch(mailbox: Mailbox | None, uidvalidity: int | None, batch: list[Fetched],
                  reader: Reader | None = None) -> dict[str, int]:
    """Store, import and commit a batch; advance the mailbox past it. Return counts by status."""
    return finish(mailbox, stage(mailbox, uidvalidity, batch, reader))


def import_bytes(raw: bytes) -> InboundEmail:
    """Import one raw message that did not come from IMAP (a test, an upload, a pipe)."""
    row = store_raw(None, None, [Fetched(uid=None, raw=raw)])[0]
    import_one(row, raw)
    db.session.commit()
    return row
