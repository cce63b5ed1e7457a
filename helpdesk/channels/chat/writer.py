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

from flask import Flask, current_app
from sqlalchemy import Connection

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
        # One app context, session and database connection for the writer's life: a
        # batch then costs its statements and the commit, not a pool check-out (and its
        # liveness ping) too. A failure replaces the connection before the next batch.
        connection = None
        with app.app_context():
            while True:
                batch = [self._queue.get()]
                while len(batch) < MAX_BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                try:
                    if connection is None:
                        connection = _connect()
                    self._write(batch, connection)
                except Exception:  # each handler stores its own line instead
                    log.exception("could not store %d chat messages together", len(batch))
                    db.session.remove()
                    if connection is not None:
                        connection.close()
                        connection = None
                finally:
                    for waiting in batch:
                        waiting.done.set()

    @staticmethod
    def _write(batch: list[_Waiting], connection: Connection) -> None:
        db.session.connection(bind_arguments={"bind": connection})  # the session's transaction, on this connection
        try:
            stored = service.customer_messages([waiting.line for waiting in batch])
            acks = [payloads.acknowledgement(message) if message is not None else None for message in stored]
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        for waiting, ack in zip(batch, acks, strict=True):
            waiting.ack = ack


def _connect() -> Connection:
    """Return the writer's own connection.

    On PostgreSQL a batch is one statement (service.customer_messages), and a
    statement is atomic by itself, so the connection runs in autocommit: a
    batch is then one round trip, where BEGIN, the statement and COMMIT were
    three, each waiting its turn on a busy server. SQLite's batch is several
    statements and keeps its transaction.

    The connection also keeps PostgreSQL to the statement's generic plan.
    The best plan is the same for every batch (each line's rows found by
    their keys), so planning it anew for each batch bought nothing, and cost
    more than running it on a slow machine: a batch of one took 4.2 ms with
    a plan made for it and 2.5 ms with the generic one, a batch of 100 59 and
    38 ms (docs/benchmarks.md). PostgreSQL makes the plan again whenever
    ANALYZE changes the tables' statistics.
    """
    connection = db.engine.connect()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        connection.commit()
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection


_writer = _Writer()


def store(line: service.VisitorLine) -> dict | None:
    """Store the line with whatever else is arriving and return its ack; None: store it alone.

    Only the production server (gevent) batches; elsewhere this returns None at once.
    """
    if current_app.config.get("SOCKETIO_ASYNC_MODE") != "gevent":
        return None
    return _writer.store(line)
