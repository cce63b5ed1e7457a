"""``mail watch`` as its own process against a real Dovecot: IDLE wake-ups, crashes, restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.models import Mailbox, Message, Ticket
from tests.support.dovecot import DovecotServer, dovecot_binary
from tests.support.servers import ROOT
from tests.test_email_intake import mail


@pytest.fixture
def dovecot():
    if dovecot_binary() is None:
        pytest.skip("Debian package dovecot-imapd is not installed")
    server = DovecotServer().start()
    yield server
    server.stop()


def start_watcher(env: dict, dovecot: DovecotServer) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "mail", "watch"],
        cwd=ROOT,
        env={**os.environ, **env, "IMAP_HOST": "127.0.0.1", "IMAP_PORT": str(dovecot.port),
             "IMAP_USER": dovecot.user, "IMAP_PASSWORD": dovecot.password, "IMAP_SSL": "false"},
    )


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        db.session.rollback()
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def release_locks(redis_url: str) -> None:
    """Drop the mailbox lock a SIGKILLed watcher left to expire, so the next one starts at once."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.keys("helpdesk:mailbox-lock:*"):
        client.delete(key)


def tickets_count() -> int:
    return db.session.scalar(select(func.count(Ticket.id)))


def inbox_size(dovecot) -> int:
    with dovecot.client() as client:
        return client.select_folder("INBOX", readonly=True)[b"EXISTS"]


def test_watcher_imports_as_mail_arrives(app, migrated, dovecot):
    watcher = start_watcher(migrated, dovecot)
    try:
        dovecot.append(mail(message_id="<w1@example.com>"))
        wait_until(lambda: tickets_count() == 1)
        dovecot.append(mail(subject="Another", message_id="<w2@example.com>", sender="eve@example.com"))
        wait_until(lambda: tickets_count() == 2)  # woken by IDLE, not by a restart
        assert watcher.poll() is None
    finally:
        watcher.terminate()
        watcher.wait(15)
    assert watcher.returncode in (0, -signal.SIGTERM)


def test_killed_watcher_loses_and_duplicates_nothing(app, migrated, dovecot):
    total = 60
    watcher = start_watcher(migrated, dovecot)
    try:
        for n in range(total):
            dovecot.append(mail(subject=f"Order {n}", message_id=f"<k{n}@example.com>", sender=f"c{n}@example.com"))
            if n % 15 == 7:
                watcher.send_signal(signal.SIGKILL)
                watcher.wait(10)
                release_locks(migrated["REDIS_URL"])
                watcher = start_watcher(migrated, dovecot)
        wait_until(lambda: tickets_count() == total, timeout=60)
    finally:
        watcher.terminate()
        watcher.wait(15)
    assert db.session.scalar(select(func.count(Message.id))) == total
    subjects = db.session.scalars(select(Ticket.subject)).all()
    assert sorted(subjects) == sorted(f"Order {n}" for n in range(total))


def test_mail_server_killed_mid_pass_loses_and_duplicates_nothing(app, migrated, dovecot):
    """Dovecot dies while the watcher works through a backlog; once it is back, the watcher finishes the job."""
    total = 400
    with dovecot.client() as client:
        for n in range(total):
            client.append("INBOX", mail(subject=f"Backlog {n}", message_id=f"<b{n}@example.com>",
                                        sender=f"c{n % 50}@example.com"))
    watcher = start_watcher(migrated, dovecot)
    try:
        wait_until(lambda: tickets_count() > 0, timeout=60)
        dovecot.crash()
        imported_when_killed = tickets_count()
        time.sleep(1.5)  # the watcher meets the dead server, records it and backs off
        dovecot.start()
        wait_until(lambda: tickets_count() == total, timeout=90)
        # The last pass moves its messages after its commit: let it, before the watcher is stopped.
        wait_until(lambda: inbox_size(dovecot) == 0, timeout=30)
        assert watcher.poll() is None  # it reconnected: a dead server is not fatal
    finally:
        watcher.terminate()
        watcher.wait(15)
    assert 0 < imported_when_killed < total  # the kill did land mid-pass
    assert db.session.scalar(select(func.count(Message.id))) == total
    subjects = db.session.scalars(select(Ticket.subject)).all()
    assert sorted(subjects) == sorted(f"Backlog {n}" for n in range(total))
    mailbox = db.session.scalar(select(Mailbox))
    # The failure was recorded for the mailbox's health, and cleared by the passes that followed.
    assert mailbox.last_error_at is not None and mailbox.last_success_at > mailbox.last_error_at
    assert mailbox.last_error is None
    with dovecot.client() as client:  # committed before the kill but not moved: moved after it
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        assert client.select_folder("Processed")[b"EXISTS"] == total
