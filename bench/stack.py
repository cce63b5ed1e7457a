"""The real pieces the end-to-end benchmarks run: a schema, Dovecot, an SMTP sink and the help desk's processes.

Everything listens on 127.0.0.1 and is stopped by pid. Subprocesses get the
configuration as environment variables, the way they do in production; the
schema is chosen with libpq's ``options=-csearch_path=...`` in DATABASE_URL.
"""

from __future__ import annotations

import logging
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from email import message_from_bytes
from pathlib import Path

import psycopg
from aiosmtpd.controller import Controller
from psycopg import sql
from sqlalchemy import make_url

from bench.tickets_list import _conninfo, database_url, prepare_database
from config import Config
from tests.support import dovecot as test_dovecot
from tests.support.servers import ROOT, free_port

SECRET_KEY = "bench-secret-key-that-is-long-enough-for-hmac"
SUPPORT_ADDRESS = "support@helpdesk.test"


def schema_url(schema: str) -> str:
    """Return BENCH_DATABASE_URL with ``schema`` first on the search path."""
    url = make_url(database_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def reset_schema(schema: str) -> None:
    """Drop and recreate ``schema`` (in the bench database, created when missing), then apply every migration."""
    from flask_migrate import upgrade

    from helpdesk import create_app
    from helpdesk.extensions import db

    url = database_url()
    prepare_database(url, schema)
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    app = create_app(Config.from_env({"DATABASE_URL": schema_url(schema), "SECRET_KEY": SECRET_KEY}))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    logging.getLogger("bench").disabled = False  # Alembic's fileConfig() disables the loggers that existed before it


def analyze(schema: str) -> None:
    """Give the planner statistics of ``schema`` as it holds now, as autovacuum would within its minute.

    A benchmark fills new tables in seconds and measures at once: with the
    statistics of the empty tables PostgreSQL plans every lookup as a scan
    of what it believes are a few rows, which a database in service never
    sees.
    """
    with psycopg.connect(_conninfo(database_url()), autocommit=True) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
        for (table,) in tables:
            conn.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))


def environment(schema: str, redis_url: str, attachments: str, **extra) -> dict[str, str]:
    """Return the environment of a help desk process working on ``schema``."""
    env = {"DATABASE_URL": schema_url(schema), "REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY,
           "HELPDESK_ATTACHMENT_DIR": attachments, "SUPPORT_ADDRESS": SUPPORT_ADDRESS,
           "HELPDESK_ACK_BUSINESS_DAYS": "2"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def imap_environment(dovecot: test_dovecot.DovecotServer) -> dict[str, str]:
    """Return the IMAP settings of the bench mailbox."""
    return {"IMAP_HOST": "127.0.0.1", "IMAP_PORT": str(dovecot.port), "IMAP_USER": dovecot.user,
            "IMAP_PASSWORD": dovecot.password, "IMAP_SSL": "false", "IMAP_PROCESSED_FOLDER": "Processed"}


def make_app(env: dict[str, str]):
    """Return an app configured like the subprocesses (threading Socket.IO, no gevent)."""
    from helpdesk import create_app

    config = Config.from_env(env)
    config.SOCKETIO_ASYNC_MODE = "threading"
    return create_app(config)


class Dovecot(test_dovecot.DovecotServer):
    """The test Dovecot, but with inotify-driven IDLE (production's default) unless ``poll`` is set."""

    def __init__(self, poll: bool = False):
        super().__init__()
        self.poll = poll

    def start(self) -> Dovecot:
        if not self.poll:
            original = test_dovecot.CONFIG
            test_dovecot.CONFIG = original.replace("mailbox_idle_check_interval = 1 secs\n", "")
            try:
                return super().start()
            finally:
                test_dovecot.CONFIG = original
        return super().start()

    @property
    def maildir(self) -> Path:
        """Return the user's INBOX Maildir (created on first login, or here)."""
        return self.root / "mail" / self.user

    def deliver(self, messages: list[bytes]) -> None:
        """Write messages straight into Maildir ``new/``, as a delivery agent does."""
        import pwd

        owner = pwd.getpwnam("dovecot")
        for sub in ("", "new", "cur", "tmp"):
            path = self.maildir / sub
            path.mkdir(exist_ok=True)
            os.chown(path, owner.pw_uid, owner.pw_gid)
        stamp = int(time.time())
        for n, raw in enumerate(messages):
            name = f"{stamp}.M{n}P{os.getpid()}.bench"
            tmp = self.maildir / "tmp" / name
            tmp.write_bytes(raw)
            os.chown(tmp, owner.pw_uid, owner.pw_gid)
            os.rename(tmp, self.maildir / "new" / name)


class SmtpSink:
    """An aiosmtpd server that notes when each message arrived (wall clock) and keeps it raw."""

    def __init__(self):
        self.port = free_port()
        self.received: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        arrived = time.time()
        with self._lock:
            self.received.append((arrived, envelope.content))
        return "250 OK"

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def count(self) -> int:
        """Return how many messages arrived so far."""
        with self._lock:
            return len(self.received)

    def headers(self) -> list[tuple[float, dict]]:
        """Return (arrival time, headers) of every message."""
        with self._lock:
            received = list(self.received)
        return [(t, dict(message_from_bytes(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n").items()))
                for t, raw in received]


class Process:
    """One help desk process (``mail watch``, ``python -m workers``, the server) started with an environment."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path | None = None):
        self.args, self.env, self.log_path = args, env, log_path
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.popen = subprocess.Popen([sys.executable, *self.args], cwd=ROOT, env={**os.environ, **self.env},
                                      stdout=log, stderr=subprocess.STDOUT)
        if self.log_path:
            log.close()
        return self

    def kill(self) -> None:
        """SIGKILL the process, as a crash would."""
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 25) -> None:
        """SIGTERM, then SIGKILL if it does not exit in ``timeout`` seconds."""
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


def watcher(env: dict[str, str], log_path: Path | None = None) -> Process:
    """Return ``flask --app wsgi mail watch``."""
    return Process(["-m", "flask", "--app", "wsgi", "mail", "watch"], env, log_path)


def workers(env: dict[str, str], log_path: Path | None = None) -> Process:
    """Return ``python -m workers`` (the supervisor and its worker child)."""
    return Process(["-m", "workers"], env, log_path)


def release_mailbox_locks(redis_url: str) -> None:
    """Delete the mailbox lock a SIGKILLed watcher left to expire (60 s), so the next one starts at once."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.keys("helpdesk:mailbox-lock:*"):
        client.delete(key)


def stats(values: list[float], scale: float = 1000.0) -> dict:
    """Return count, p50, p90, p99 and max of ``values`` seconds, in ms."""
    if not values:
        return {"count": 0}
    cuts = statistics.quantiles(values * 2 if len(values) < 2 else values, n=100, method="inclusive")
    return {"count": len(values), "p50_ms": round(cuts[49] * scale, 1), "p90_ms": round(cuts[89] * scale, 1),
            "p99_ms": round(cuts[98] * scale, 1), "max_ms": round(max(values) * scale, 1),
            "min_ms": round(min(values) * scale, 1)}


def wait_until(predicate, timeout: float, every: float = 0.2) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed; return whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


def load_average() -> list[float]:
    """Return the 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]
