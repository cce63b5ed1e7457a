"""Fetch the support mailbox over IMAP: one pass (``mail fetch``) or forever in IDLE (``mail watch``).

State is the mailbox row's (UIDVALIDITY, last committed UID): each pass
fetches every UID above it with BODY.PEEK[] in batches, commits, and only
then moves the messages to the processed folder. Only one process works a
mailbox at a time, whatever the number of replicas: they share a Redis lock.
"""

from __future__ import annotations

import logging
import secrets
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from datetime import UTC

from flask import current_app
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from redis.exceptions import RedisError
from sqlalchemy import select

from helpdesk.channels.email import staging
from helpdesk.channels.email.intake import Fetched, Staged, finish, record_progress, stage
from helpdesk.channels.email.reading import Reader
from helpdesk.extensions import db
from helpdesk.models import Mailbox
from helpdesk.models.base import utcnow
from workers.queues import redis_connection

log = logging.getLogger(__name__)

BATCH = 100
#: How long one IDLE lasts at most before we look again and renew the lock; far inside the
#: 29 minutes after which servers may drop an IDLE connection (RFC 2177).
IDLE_CHECK_SECONDS = 10
LOCK_TTL_SECONDS = 60
MAX_BACKOFF_SECONDS = 60
NETWORK_ERRORS = (IMAPClientError, OSError, socket.timeout, ssl.SSLError, EOFError)


class LockLost(RuntimeError):
    """Another process took the mailbox (our lock expired)."""


class MailboxLock:
    """A Redis lock on one mailbox, renewed while held, released only by its holder."""

    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
    _RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end " \
             "return 0"

    def __init__(self, name: str):
        self.key = f"helpdesk:mailbox-lock:{name}"
        self.token = secrets.token_hex(16)
        self.redis = redis_connection()

    def acquire(self) -> bool:
        """Take the lock if nobody holds it."""
        return bool(self.redis.set(self.key, self.token, nx=True, ex=LOCK_TTL_SECONDS))

    def renew(self) -> None:
        """Extend the lock, or raise LockLost when someone else has it now."""
        if not self.redis.eval(self._RENEW, 1, self.key, self.token, LOCK_TTL_SECONDS * 1000):
            raise LockLost(self.key)

    def release(self) -> None:
        """Give the lock up if we still hold it."""
        try:
            self.redis.eval(self._RELEASE, 1, self.key, self.token)
        except RedisError:
            pass


def mailbox_row() -> Mailbox:
    """Return (creating it) the state row of the configured mailbox."""
    config = current_app.config
    key = dict(host=config["IMAP_HOST"], username=config["IMAP_USER"], folder=config["IMAP_FOLDER"])
    mailbox = db.session.scalar(select(Mailbox).filter_by(**key))
    if mailbox is None:
        mailbox = Mailbox(**key, last_uid=0)
        db.session.add(mailbox)
        db.session.commit()
    return mailbox


def connect() -> IMAPClient:
    """Open and log in an IMAP connection to the configured mailbox."""
    config = current_app.config
    client = IMAPClient(config["IMAP_HOST"], port=config["IMAP_PORT"], ssl=config["IMAP_SSL"], timeout=30)
    client.login(config["IMAP_USER"], config["IMAP_PASSWORD"])
    return client


def _record_error(exc: Exception) -> None:
    db.session.rollback()
    mailbox = mailbox_row()
    mailbox.last_error, mailbox.last_error_at = f"{type(exc).__name__}: {exc}"[:1000], utcnow()
    db.session.commit()


def _move(client: IMAPClient, uids: list[int]) -> None:
    target = current_app.config.get("IMAP_PROCESSED_FOLDER")
    if not uids:
        return
    if not target:
        client.add_flags(uids, [b"\\Seen"], silent=True)
        return
    try:
        _move_to(client, uids, target)
    except IMAPClientError as exc:
        # The folder is missing (the first move ever, or someone deleted it): the server
        # says so with [TRYCREATE] (RFC 3501, 6.4.7), so asking first is a round trip wasted.
        if "TRYCREATE" not in str(exc).upper():
            raise
        client.create_folder(target)
        _move_to(client, uids, target)


def _move_to(client: IMAPClient, uids: list[int], target: str) -> None:
    if client.has_capability("MOVE"):
        client.move(uids, target)
    else:
        client.copy(uids, target)
        client.delete_messages(uids, silent=True)
        client.uid_expunge(uids) if client.has_capability("UIDPLUS") else client.expunge()


#: The folder each open connection has selected, and its UIDVALIDITY then: IDLE leaves it
#: selected, so the next pass need not SELECT it again. UIDVALIDITY changes between
#: sessions (RFC 3501, 2.3.1.1): a folder deleted or renumbered under a session makes the
#: server end it or fail its next command, and the watcher then reconnects and selects anew.
_selected: weakref.WeakKeyDictionary[IMAPClient, tuple[str, int]] = weakref.WeakKeyDictionary()


def _select(client: IMAPClient, folder: str) -> int:
    """Select ``folder`` unless this connection already has it selected; return its UIDVALIDITY."""
    selected = _selected.get(client)
    if selected is not None and selected[0] == folder:
        return selected[1]
    uidvalidity = int(client.select_folder(folder)[b"UIDVALIDITY"])
    _selected[client] = (folder, uidvalidity)
    return uidvalidity


def sync(client: IMAPClient, reader: Reader | None = None) -> dict[str, int]:
    """Fetch, import and move every message above the last committed UID; return counts.

    ``reader`` reads large batches in worker processes (default: all inline).
    """
    mailbox = mailbox_row()
    uidvalidity = _select(client, mailbox.folder)
    if mailbox.uidvalidity != uidvalidity or mailbox.resync_requested:
        # UIDs mean nothing across UIDVALIDITY; start over. Message-IDs keep the import exactly-once.
        log.info("resynchronising %s (uidvalidity %s -> %s)", mailbox.label, mailbox.uidvalidity, uidvalidity)
        mailbox.uidvalidity, mailbox.last_uid, mailbox.resync_requested = uidvalidity, 0, False
        db.session.commit()
    if mailbox.last_uid and current_app.config.get("IMAP_PROCESSED_FOLDER"):
        # Committed but not moved (a crash between the two): finish the move now.
        _move(client, client.search(["UID", f"1:{mailbox.last_uid}"]))
    # From here on, an EXISTS in imaplib's store means mail arrived after this SEARCH (see _idle_until_news).
    client._imap.untagged_responses.clear()
    uids = sorted(u for u in client.search(["UID", f"{mailbox.last_uid + 1}:*"]) if u > mailbox.last_uid)
    batches = [uids[start : start + BATCH] for start in range(0, len(uids), BATCH)]
    if len(batches) > 1:
        mailbox.waiting = len(uids)  # shown on the mailbox's health while the pass works through them
        db.session.commit()
    totals: dict[str, int] = {}
    # Staged in a thread of its own, the batches are fetched on a connection of their own too, so that
    # the importer's MOVE of one batch and the fetch of the next do not wait for each other. Where the
    # server allows no second connection, the two share this one, taking turns.
    overlapped = staging.overlaps(len(batches))
    turns = threading.Lock()

    def stages() -> Iterator[tuple[Staged, int]]:
        staging_mailbox = db.session.get(Mailbox, mailbox.id)  # this session's own
        fetcher = (_fetcher(mailbox.folder, uidvalidity) if overlapped else None) or client
        try:
            waiting = len(uids)
            for chunk in batches:
                with turns if fetcher is client else nullcontext():
                    data = fetcher.fetch(chunk, ["BODY.PEEK[]", "INTERNALDATE"])
                batch = [
                    Fetched(uid=uid, raw=data[uid][b"BODY[]"], internal_date=_aware(data[uid].get(b"INTERNALDATE")))
                    for uid in chunk
                    if uid in data and b"BODY[]" in data[uid]
                ]
                waiting -= len(chunk)
                yield stage(staging_mailbox, uidvalidity, batch, reader), waiting
        finally:
            if fetcher is not client:
                _logout(fetcher)

    with staging.ahead(stages, len(batches)) as staged_batches:
        for staged, waiting in staged_batches:
            for status, count in finish(mailbox, staged, waiting).items():  # the last one records the pass
                totals[status] = totals.get(status, 0) + count
            with turns:
                _move(client, [f.uid for f in staged.batch])
    if not batches:
        record_progress(mailbox, 0)
        db.session.commit()
    return totals


def _fetcher(folder: str, uidvalidity: int) -> IMAPClient | None:
    """Open a second connection on ``folder``, read-only, for fetching; raise if its UIDs are not ``uidvalidity``'s.

    None when the server refuses it (a limit on connections per user, say): the pass then fetches on its own.
    """
    try:
        client = connect()
    except NETWORK_ERRORS as exc:
        log.warning("no second IMAP connection for fetching (%s); fetching on the watcher's own", exc)
        return None
    try:
        if int(client.select_folder(folder, readonly=True)[b"UIDVALIDITY"]) != uidvalidity:
            raise IMAPClientError(f"the UIDVALIDITY of {folder} changed during the pass")
    except BaseException:
        _logout(client)
        raise
    return client


def _aware(value):
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def fetch_once() -> dict[str, int] | None:
    """Do one pass if no watcher holds the mailbox; return the counts (None when it was held)."""
    lock = MailboxLock(mailbox_row().label)
    if not lock.acquire():
        return None
    try:
        client = connect()
        try:
            with Reader() as reader:
                return sync(client, reader)
        finally:
            _logout(client)
    except NETWORK_ERRORS as exc:
        _record_error(exc)
        raise
    finally:
        lock.release()


def _logout(client: IMAPClient) -> None:
    """Say goodbye, briefly: a watcher stopped mid-command must not wait out the 30 s socket timeout."""
    try:
        client.socket().settimeout(2)
        client.logout()
    except NETWORK_ERRORS:
        pass


def _idle_until_news(client: IMAPClient, lock: MailboxLock) -> None:
    """Wait in IDLE until the server reports a change or IDLE_CHECK_SECONDS pass, then leave IDLE.

    The caller syncs after every wake-up; when nothing is new that costs one
    SEARCH, and it closes every race between our last SEARCH and IDLE: at
    worst, mail that slipped through waits IDLE_CHECK_SECONDS.
    """
    pending = client._imap.untagged_responses  # what imaplib kept from earlier commands' replies
    if pending.get("EXISTS"):
        pending.clear()  # mail announced in a reply to the last sync's own commands: sync again now
        lock.renew()
        return
    pending.clear()
    client.idle()
    try:
        # Mail that arrived after our last SEARCH is announced before the server's "+ idling"
        # and lands in imaplib's store, where idle_check() never looks.
        if not (pending.get("EXISTS") or pending.get("RECENT")):
            client.idle_check(timeout=IDLE_CHECK_SECONDS)
    finally:
        client.idle_done()
    lock.renew()


def watch(should_stop: Callable[[], bool] = lambda: False) -> None:
    """Keep the mailbox in IDLE and import mail as it arrives, until ``should_stop()``.

    Reconnects with exponential backoff (1 s doubling to a minute) when the
    server or network fails; waits its turn when another replica holds the lock.
    """
    with Reader() as reader:
        _watch(should_stop, reader)


def _watch(should_stop: Callable[[], bool], reader: Reader) -> None:
    backoff = 1.0
    label = mailbox_row().label
    while not should_stop():
        lock = MailboxLock(label)
        try:
            if not lock.acquire():
                time.sleep(min(5.0, LOCK_TTL_SECONDS / 4))
                continue
        except RedisError as exc:
            log.warning("redis unavailable for the mailbox lock (%s); retrying in %.0fs", exc, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            continue
        client = None
        try:
            client = connect()
            log.info("watching %s", label)
            while not should_stop():
                counts = sync(client, reader)
                if counts:
                    log.info("imported from %s: %s", label, counts)
                backoff = 1.0
                _idle_until_news(client, lock)
        except LockLost:
            log.warning("lost the lock on %s; another watcher has it", label)
        except (*NETWORK_ERRORS, RedisError) as exc:
            log.warning("mailbox %s failed (%s); reconnecting in %.0fs", label, exc, backoff)
            _record_error(exc)
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            if client is not None:
                _logout(client)
            lock.release()
