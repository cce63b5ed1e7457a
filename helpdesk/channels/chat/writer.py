"""Group commit for visitors' chat messages in the production server (gevent).

Each ``message`` event hands its line to one writer greenlet per process and
waits. The writer takes every line that arrived while it was busy, stores
them with one set of statements and one commit, and only then releases each
event with its ack: persisted before acknowledged, as one at a time, but
the statements and the commit are shared, so under load a message costs a
fraction of one transaction. An idle server writes a line as soon as it
arrives (a batch of one); nothing waits for a batch to fill.

Lines the quick path does not take, and every line of a batch that failed,
come back as None: the handler then stores that message on its own, as
before, with the same errors and duplicate handling. A line still queued
after WAIT_SECONDS is answered ``internal`` (resend), never stored twice.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from functools import partial

import psycopg
from flask import Flask, current_app
from gevent.threadpool import ThreadPool
from psycopg import waiting as psycopg_waiting
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, TextClause

from helpdesk.channels.chat import payloads, service
from helpdesk.channels.chat.protocol import ChatError
from helpdesk.extensions import db, socketio

log = logging.getLogger(__name__)

#: Most lines one transaction takes; more wait for the next.
MAX_BATCH = 200
#: A line not written within this many seconds is answered "resend": under such a backlog
#: storing it alone would only add to the load, and a resend is stored once whatever happened.
WAIT_SECONDS = 20.0


@dataclass
class _Waiting:
    line: service.VisitorLine
    done: threading.Event = field(default_factory=threading.Event)
    ack: dict | None = None


class _Writer:
    def __init__(self):
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Waiting] = queue.Queue()
        self._started = False

    def store(self, line: service.VisitorLine) -> dict | None:
        if not self._started:
            with self._lock:
                if not self._started:
                    self._started = True
                    socketio.start_background_task(self._run, current_app._get_current_object())
        waiting = _Waiting(line)
        self._queue.put(waiting)
        if not waiting.done.wait(WAIT_SECONDS):
            raise ChatError("internal", "the server is busy; resend the message with the same client_id")
        return waiting.ack

    def _run(self, app: Flask) -> None:
        with app.app_context():
            storage = storage_for(db.engine, in_thread=True)
            while True:
                batch = [self._queue.get()]
                while len(batch) < MAX_BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                try:
                    storage.write(batch)
                except Exception:  # each handler stores its own line instead
                    log.exception("could not store %d chat messages together", len(batch))
                finally:
                    for waiting in batch:
                        waiting.done.set()


class Storage:
    """How the writer stores a batch, on a connection of its own that it keeps between batches.

    A batch then costs its statements, not a pool check-out (and its liveness
    ping) too. ``write`` sets each line's ack (None: the handler stores that
    line alone); after a failure the connection is replaced.
    """

    def write(self, batch: list[_Waiting]) -> None:
        try:
            stored = self._store([waiting.line for waiting in batch])
            acks = [payloads.acknowledgement(message) if message is not None else None for message in stored]
            db.session.commit()
        except Exception:
            db.session.rollback()
            db.session.remove()
            self.close()
            raise
        for waiting, ack in zip(batch, acks, strict=True):
            waiting.ack = ack

    def _store(self, lines: list[service.VisitorLine]) -> list:
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection; the next batch opens another."""


class _OwnTransaction(Storage):
    """SQLite: the session's statements and transaction, on the writer's connection."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._connection: Connection | None = None

    def _store(self, lines):
        if self._connection is None:
            self._connection = self._engine.connect()
        db.session.connection(bind_arguments={"bind": self._connection})
        return service.customer_messages(lines)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _OwnStatement(Storage):
    """PostgreSQL: the batch's one statement, in autocommit, in a thread of its own.

    The statement is atomic by itself, so a batch is one round trip where
    BEGIN, the statement and COMMIT were three. The session only gathers the
    batch's live events, which its commit (with no SQL) sends on as always.

    In the gevent server the statement runs in a native thread. A greenlet
    waiting for PostgreSQL is woken only when the event loop comes round to
    it, after every frame the loop is handling then: under load that wait was
    most of a message's round trip (docs/benchmarks.md). The thread is woken
    by the kernel and needs the GIL only to send the statement and read the
    rows; it touches nothing but its connection.

    The connection keeps PostgreSQL to the statement's generic plan. The best
    plan is the same for every batch (each line's rows found by their keys),
    so planning it anew for each batch bought nothing, and cost more than
    running it on a slow machine: a batch of one took 4.2 ms with a plan made
    for it and 2.5 ms with the generic one. PostgreSQL makes the plan again
    whenever ANALYZE changes the tables' statistics.
    """

    def __init__(self, engine: Engine, in_thread: bool):
        compiled = service.APPEND.compile(dialect=engine.dialect)
        self._sql, self._names = compiled.string, compiled.positiontup
        # The app's own connection arguments (its RawCursor sends the compiled $n placeholders as they are).
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        kwargs.update(current_app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}))
        self._connect = partial(_BlockingConnection.connect, *args, **kwargs, autocommit=True,
                                row_factory=namedtuple_row)
        self._connection: psycopg.Connection | None = None
        self._thread = ThreadPool(1) if in_thread else None

    def _store(self, lines):
        return service.customer_messages(lines, execute=self.execute)

    def execute(self, statement: TextClause, parameters: dict) -> list:
        """Run the batch statement (``service.APPEND``, compiled once) and return its rows."""
        assert statement is service.APPEND
        values = [parameters[name] for name in self._names]
        if self._thread is None:
            return self._execute(values)
        return self._thread.apply(self._execute, (values,))

    def _execute(self, values: list) -> list:
        if self._connection is None:
            self._connection = self._connect()
            self._connection.execute("SET plan_cache_mode = force_generic_plan")
        return self._connection.execute(self._sql, values, prepare=True).fetchall()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            if self._thread is None:
                connection.close()
            else:
                self._thread.apply(connection.close)


class _BlockingConnection(psycopg.Connection):
    """A connection that waits for the server by blocking its thread, in psycopg's C wait (which lets go of
    the GIL), where under gevent's patched ``select`` psycopg would run an event loop in the thread to wait."""

    def wait(self, gen, interval=0.1, timeout=None):
        if timeout is None and _WAIT_C is not None:
            return _WAIT_C(gen, self.pgconn.socket, interval)
        return super().wait(gen, interval, timeout)


_WAIT_C = getattr(psycopg_waiting, "wait_c", None)  # with psycopg[binary]


def storage_for(engine: Engine, in_thread: bool = False) -> Storage:
    """Return how the writer stores batches on ``engine``'s database (``in_thread``: the gevent server's way)."""
    if engine.dialect.name == "postgresql":
        return _OwnStatement(engine, in_thread)
    return _OwnTransaction(engine)


_writer = _Writer()


def store(line: service.VisitorLine) -> dict | None:
    """Store the line with whatever else is arriving and return its ack; None: store it alone.

    Only the production server (gevent) batches; elsewhere this returns None at once.
    """
    if current_app.config.get("SOCKETIO_ASYNC_MODE") != "gevent":
        return None
    return _writer.store(line)
