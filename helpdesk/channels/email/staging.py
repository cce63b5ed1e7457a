"""Stage the next batch of mail while this one is imported: in a thread of its own on PostgreSQL.

``sync`` (imap.py) hands ``ahead`` a generator that fetches a batch, commits
its raw messages and starts reading it (``intake.stage``); the importer takes
the batches in order and imports each (``intake.finish``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import current_app

from helpdesk.channels.email.intake import Staged
from helpdesk.extensions import db


@contextmanager
def ahead(stages: Callable[[], Iterator[tuple[Staged, int]]], batches: int
          ) -> Iterator[Iterator[tuple[Staged, int]]]:
    """Yield the ``batches`` batches ``stages`` fetches and stages, one batch ahead of their import.

    Batch n+1 is fetched, its raw messages committed and its reading started
    before batch n is imported, so the reading processes parse while this one
    writes. On PostgreSQL the staging also runs in a thread of its own, with
    its own session: the importer spends a third of its time waiting for the
    database, and the stager's work (the IMAP fetch, the raw files and rows)
    fits in those waits. SQLite takes one writer at a time, so there the two
    take turns in this thread, as do a pass's only batch and its import
    (IDLE's usual wake-up: one new message), where there is nothing to
    overlap and the thread would only add its hand-over to the latency.
    """
    if not overlaps(batches):
        yield _one_ahead(stages())
        return
    stager = _Stager(current_app._get_current_object(), stages)
    try:
        yield iter(stager)
    finally:
        stager.stop()


def overlaps(batches: int) -> bool:
    """Say whether ``ahead`` stages these batches in a thread of its own, at the same time as it imports."""
    return batches > 1 and db.engine.dialect.name == "postgresql"


def _one_ahead(items: Iterator) -> Iterator:
    """Yield each item once the next one has been produced."""
    previous = _END
    for item in items:
        if previous is not _END:
            yield previous
        previous = item
    if previous is not _END:
        yield previous


_END = object()


class _Stager:
    """Run a stages() generator in a thread with its own app context; hand over each batch as it is staged.

    At most one staged batch waits for the importer, as in _one_ahead. An
    exception in the thread (a dropped IMAP connection, say) is raised in the
    importer, where the watcher's error handling sees it.
    """

    def __init__(self, app, stages: Callable[[], Iterator]):
        self._handed: queue.Queue = queue.Queue(maxsize=1)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(app, stages), name="mail-stager", daemon=True)
        self._thread.start()

    def _run(self, app, stages: Callable[[], Iterator]) -> None:
        with app.app_context():
            try:
                for item in stages():
                    if not self._hand(item):
                        return
                self._hand(_END)
            except BaseException as exc:  # handed to the importer, which raises it
                self._hand(exc)
            finally:
                db.session.remove()

    def _hand(self, item) -> bool:
        while not self._stopping.is_set():
            try:
                self._handed.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator:
        while (item := self._handed.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        """Stop staging (after the current batch) and wait for the thread."""
        self._stopping.set()
        self._thread.join()
