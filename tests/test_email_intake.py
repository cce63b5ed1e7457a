"""The IMAP intake against a real Dovecot: exactly-once import, resync, moves, locking, corpora."""

from __future__ import annotations

import gc

import pytest
from sqlalchemy import func, select

from helpdesk.channels.email import imap
from helpdesk.channels.email.intake import import_bytes
from helpdesk.extensions import db
from helpdesk.models import InboundEmail, Mailbox, Message, Ticket
from helpdesk.runtime import GC_THRESHOLDS
from tests.conftest import corpus
from tests.support.dovecot import DovecotServer, dovecot_binary


def mail(subject="Printer on fire", sender="bob@example.com", message_id="<m1@example.com>", body="Help!",
         headers="") -> bytes:
    """Return a small RFC 5322 message."""
    return (
        f"From: Bob <{sender}>\r\nTo: support@helpdesk.test\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


@pytest.fixture(scope="module")
def dovecot():
    if dovecot_binary() is None:
        pytest.skip("Debian package dovecot-imapd is not installed")
    server = DovecotServer().start()
    yield server
    server.stop()


@pytest.fixture
def config_overrides(dovecot):
    return {
        "IMAP_HOST": "127.0.0.1",
        "IMAP_PORT": dovecot.port,
        "IMAP_USER": dovecot.user,
        "IMAP_PASSWORD": dovecot.password,
        "IMAP_SSL": False,
        "IMAP_PROCESSED_FOLDER": "Processed",
    }


@pytest.fixture
def mailbox(app, dovecot):
    """Empty the IMAP folders before the test."""
    with dovecot.client() as client:
        for folder in ("INBOX", "Processed"):
            if client.folder_exists(folder):
                client.select_folder(folder)
                uids = client.search()
                if uids:
                    client.delete_messages(uids)
                    client.expunge()
    return dovecot


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_fetch_imports_each_message_once_and_moves_it(mailbox):
    mailbox.append(mail())
    mailbox.append(mail(subject="Second", message_id="<m2@example.com>", sender="carol@example.com"))
    assert imap.fetch_once() == {"imported": 2}
    assert count(Ticket) == 2
    with mailbox.client() as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        assert client.select_folder("Processed")[b"EXISTS"] == 2
    assert imap.fetch_once() == {}
    # The same message delivered again (a second copy, new UID) makes no second ticket.
    mailbox.append(mail())
    assert imap.fetch_once() == {"duplicate": 1}
    assert count(Ticket) == 2
    assert count(Message) == 2
    row = db.session.scalar(select(Mailbox))
    assert row.last_success_at is not None and row.waiting == 0 and row.last_error is None


def test_a_pass_of_many_batches_imports_each_in_order_and_moves_it(mailbox, monkeypatch):
    """Batch n+1 is fetched and staged (in a thread of its own on PostgreSQL) while batch n is imported."""
    monkeypatch.setattr(imap, "BATCH", 3)
    for n in range(1, 11):
        mailbox.append(mail(subject=f"Question {n}", message_id=f"<q{n}@example.com>", sender=f"c{n}@example.com"))
    # A reply in the last batch to a message of the first: threading sees what earlier batches imported.
    mailbox.append(mail(subject="Re: Question 1", message_id="<r1@example.com>", sender="c1@example.com",
                        headers="In-Reply-To: <q1@example.com>\r\n", body="Any news?"))
    assert imap.fetch_once() == {"imported": 11}
    assert count(Ticket) == 10 and count(Message) == 11
    reply = db.session.scalar(select(Message).where(Message.external_id == "r1@example.com"))
    first = db.session.scalar(select(Message).where(Message.external_id == "q1@example.com"))
    assert reply.ticket_id == first.ticket_id
    with mailbox.client() as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        assert client.select_folder("Processed")[b"EXISTS"] == 11
    row = db.session.scalar(select(Mailbox))
    assert row.waiting == 0 and row.last_uid == max(r.uid for r in db.session.scalars(select(InboundEmail)))
    assert {r.status for r in db.session.scalars(select(InboundEmail))} == {"imported"}


def test_mail_fetch_sets_the_collector_up_as_the_long_running_processes_do(mailbox, app):
    """``mail fetch`` and ``mail watch`` call tune_gc: a large pass builds thousands of objects per batch."""
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        mailbox.append(mail())
        result = app.test_cli_runner().invoke(args=["mail", "fetch"])
        assert result.exit_code == 0 and "1 imported" in result.output
        assert gc.get_threshold() == GC_THRESHOLDS and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_server_allowing_one_connection_gets_the_pass_on_one(app, monkeypatch, caplog):
    """A multi-batch pass on PostgreSQL fetches on a second connection; refused one, it shares the first."""
    monkeypatch.setattr(imap, "BATCH", 3)
    server = DovecotServer(max_connections=1).start()
    try:
        app.config["IMAP_PORT"] = server.port
        with server.client() as client:
            for n in range(7):
                client.append("INBOX", mail(subject=f"Limited {n}", message_id=f"<l{n}@example.com>",
                                            sender=f"l{n}@example.com"))
        assert imap.fetch_once() == {"imported": 7}
        with server.client() as client:
            assert client.select_folder("INBOX")[b"EXISTS"] == 0
            assert client.select_folder("Processed")[b"EXISTS"] == 7
    finally:
        server.stop()
    assert count(Ticket) == 7
    second_refused = [r for r in caplog.records if "no second IMAP connection" in r.getMessage()]
    assert len(second_refused) == (1 if db.engine.dialect.name == "postgresql" else 0)


def test_the_fetching_connection_refuses_a_folder_renumbered_since_the_pass_began(mailbox):
    """A pass staged in a thread fetches on a second connection: its UIDs must mean what the pass's mean."""
    with mailbox.client() as client:
        uidvalidity = int(client.select_folder("INBOX")[b"UIDVALIDITY"])
    fetcher = imap._fetcher("INBOX", uidvalidity)
    try:
        assert fetcher.fetch([1], ["BODY.PEEK[]"]) == {}
    finally:
        fetcher.logout()
    with pytest.raises(imap.IMAPClientError, match="UIDVALIDITY"):
        imap._fetcher("INBOX", uidvalidity + 1)


def test_the_processed_folder_is_made_when_missing(mailbox, app):
    app.config["IMAP_PROCESSED_FOLDER"] = "Done"  # not one the test server makes itself
    with mailbox.client() as client:
        if client.folder_exists("Done"):
            client.delete_folder("Done")
    mailbox.append(mail())
    assert imap.fetch_once() == {"imported": 1}  # the MOVE's [TRYCREATE] answer made the folder
    with mailbox.client() as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        assert client.select_folder("Done")[b"EXISTS"] == 1


def test_passes_on_one_connection_select_the_folder_once(mailbox, app):
    client = imap.connect()
    selects = []
    select_folder = client.select_folder
    client.select_folder = lambda *args, **kwargs: selects.append(args) or select_folder(*args, **kwargs)
    try:
        mailbox.append(mail())
        assert imap.sync(client) == {"imported": 1}
        mailbox.append(mail(subject="Second", message_id="<m2@example.com>", sender="carol@example.com"))
        assert imap.sync(client) == {"imported": 1}  # as after IDLE: the folder is still selected
        assert imap.sync(client) == {}
    finally:
        client.logout()
    assert selects == [("INBOX",)]
    assert count(Ticket) == 2
    # A new connection selects again, and sees a UIDVALIDITY change.
    row = db.session.scalar(select(Mailbox))
    row.uidvalidity = 1
    db.session.commit()
    assert imap.fetch_once() == {}
    db.session.refresh(row)
    assert row.uidvalidity not in (None, 1) and row.last_success_at is not None


def test_mail_committed_but_not_moved_is_moved_by_the_next_connection(mailbox, monkeypatch):
    mailbox.append(mail())
    with monkeypatch.context() as patched:
        patched.setattr(imap, "_move", lambda client, uids: None)  # as if the watcher died between the two
        assert imap.fetch_once() == {"imported": 1}
    with mailbox.client() as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
    assert imap.fetch_once() == {}  # a new connection: its first pass finishes the move, imports nothing again
    with mailbox.client() as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        assert client.select_folder("Processed")[b"EXISTS"] == 1
    assert count(Ticket) == 1


def test_messages_are_peeked_not_marked_seen_before_commit(mailbox, app):
    app.config["IMAP_PROCESSED_FOLDER"] = ""
    mailbox.append(mail())
    imap.fetch_once()
    with mailbox.client() as client:
        client.select_folder("INBOX")
        assert client.search(["SEEN"]) == [1] or len(client.search(["SEEN"])) == 1
        assert client.select_folder("INBOX")[b"EXISTS"] == 1  # never deleted


def test_uidvalidity_change_resyncs_without_reimporting(mailbox, app):
    app.config["IMAP_PROCESSED_FOLDER"] = ""  # keep messages in INBOX so a resync sees them again
    mailbox.append(mail())
    assert imap.fetch_once() == {"imported": 1}
    row = db.session.scalar(select(Mailbox))
    row.uidvalidity = 1  # as if the server had renumbered the folder
    db.session.commit()
    assert imap.fetch_once() == {"duplicate": 1}
    assert count(Ticket) == 1
    db.session.refresh(row)
    assert row.uidvalidity != 1


def test_reply_threads_by_in_reply_to(mailbox):
    mailbox.append(mail())
    mailbox.append(mail(subject="Re: Printer on fire", message_id="<m2@example.com>",
                        headers="In-Reply-To: <m1@example.com>\r\n", body="Still burning."))
    imap.fetch_once()
    assert count(Ticket) == 1
    message = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    assert message.meta["threading"] == "threaded by In-Reply-To"


def test_one_watcher_at_a_time(mailbox):
    held = imap.MailboxLock(imap.mailbox_row().label)
    assert held.acquire()
    try:
        mailbox.append(mail())
        assert imap.fetch_once() is None  # someone else holds the mailbox
        assert count(Ticket) == 0
    finally:
        held.release()
    assert imap.fetch_once() == {"imported": 1}


def test_unreachable_server_is_recorded(app, mailbox):
    app.config["IMAP_PORT"] = 1
    with pytest.raises(imap.NETWORK_ERRORS):
        imap.fetch_once()
    assert db.session.scalar(select(Mailbox)).last_error


@pytest.mark.parametrize("folder", ["flanker-bounces", "mail-parser", "email-reply-parser"])
def test_every_corpus_message_is_stored(app, folder):
    files = sorted(p for p in corpus(folder).iterdir() if p.name != "LICENSE")
    for path in files:
        row = import_bytes(path.read_bytes())
        assert row.status in ("imported", "duplicate"), (path.name, row.error)
        assert row.message is not None, path.name
    assert count(InboundEmail) == len(files)


def test_garbage_is_still_shown_to_agents(app):
    from helpdesk import storage

    garbage = b"\x00\xff\xfe not an email at all \x00" * 10
    row = import_bytes(garbage)
    assert row.status == "imported"
    assert row.message.ticket.subject
    assert storage.load(row.sha256) == garbage  # the raw message, as received
    kept = [storage.load(a.sha256) for a in row.message.attachments]
    assert "not an email" in row.message.body_text or garbage in kept
