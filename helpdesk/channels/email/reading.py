"""Read stored raw mail into plain values: parse and classify, inline or in worker processes.

Reading (``parse_message`` with ``policy.default``, then ``classify``) is
pure CPU work that needs no database, so a large pass hands it to a pool of
processes (one core fewer than the machine has) while this process writes
the previous batch.
Small passes (the watcher's usual one to three messages after IDLE) read
inline: a round trip to another process would only add latency.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.connection import Connection

from helpdesk.channels.email.classify import Classification, classify
from helpdesk.channels.email.parse import ParsedEmail, parse_message
from helpdesk.sanitize import clean_html

log = logging.getLogger(__name__)

#: Batches with fewer messages than this are read inline.
POOL_THRESHOLD = 20


@dataclass
class Reading:
    """What reading one raw message gave: the parsed mail and its classification, or why it failed."""

    parsed: ParsedEmail | None
    #: None when the mail is unreadable (nothing to classify) or reading failed.
    classification: Classification | None = None
    #: The exception reading raised (the parser promises not to; mail never keeps promises).
    error: str | None = None


def unreadable(parsed: ParsedEmail) -> bool:
    """Say whether the parse found nothing an agent could read (then the raw text is shown)."""
    empty = not parsed.text.strip() and not parsed.html and not parsed.attachments
    return parsed.parse_failed or (empty and not parsed.from_address)


def read(raw: bytes, own_addresses: frozenset[str]) -> Reading:
    """Parse and classify one raw message; never raise."""
    try:
        parsed = parse_message(raw)
        classification = None if unreadable(parsed) else classify(parsed, set(own_addresses))
    except Exception as exc:
        return Reading(None, error=f"{type(exc).__name__}: {exc}"[:2000])
    # Nothing after classification reads the MIME tree, and it is the costly part to send between processes.
    parsed.message = None
    # Sanitize here, in the reading process, rather than in the importer, which is the busier one.
    if parsed.html:
        parsed.html, parsed.html_sanitized = clean_html(parsed.html), True
    return Reading(parsed, classification)


def read_many(raws: list[bytes], own_addresses: frozenset[str]) -> list[Reading]:
    """Read each raw message in order."""
    return [read(raw, own_addresses) for raw in raws]


#: How much lower a reading process's CPU priority is than the importer's (``nice``).
READER_NICENESS = 10


def _start_worker(importer_alive: Connection) -> None:
    """Set up a reading process: below the importer's priority, and gone as soon as the importer is."""
    _yield_to_importer()
    threading.Thread(target=_exit_with_importer, args=(importer_alive,), name="importer-alive", daemon=True).start()


def _yield_to_importer() -> None:
    """Lower this reading process's CPU priority: it reads a batch ahead, the importer must not wait for a core."""
    try:
        os.nice(READER_NICENESS)
    except OSError:  # not allowed here: read at the same priority
        log.warning("could not lower a mail reading process's priority")


def _exit_with_importer(importer_alive: Connection) -> None:
    """Wait until the importer's end of the pipe closes, then end this process.

    A worker waits for work on a queue whose pipe it holds both ends of, so it
    never sees the importer go. When the importer stops normally it stops its
    workers first; when it is killed (SIGKILL, the OOM killer) nothing would,
    and each killed watcher left a forkserver and its workers behind for good.
    The importer's death closes the pipe's only writing end, so this read ends.
    """
    try:
        importer_alive.recv_bytes()
    except (EOFError, OSError):
        pass
    os._exit(0)


class Reader:
    """Read batches of raw mail, in worker processes once a batch is large enough.

    The pool starts on the first large batch and lives until ``close()``, so
    one ``mail fetch`` or ``mail watch`` run pays its start-up once.
    """

    def __init__(self, processes: int | None = None, threshold: int = POOL_THRESHOLD):
        # One core fewer than the machine has: this process (and the database) need one too.
        self.processes = max(0, (os.cpu_count() or 1) - 1) if processes is None else processes
        self.threshold = threshold
        self._pool: ProcessPoolExecutor | None = None
        #: A pipe that only this process writes to, and never does: the workers end when it closes (_start_worker).
        self._alive: tuple[Connection, Connection] | None = None
        #: Set when a worker process died: the rest of the run reads inline.
        self.broken = False

    def submit(self, raws: list[bytes], own_addresses: frozenset[str]) -> Future:
        """Start reading ``raws``; the future's result is their readings, in order."""
        if len(raws) < self.threshold or self.processes < 1 or self.broken:
            done: Future = Future()
            done.set_result(read_many(raws, own_addresses))
            return done
        pool = self._start()
        size = -(-len(raws) // self.processes)
        parts = [pool.submit(read_many, raws[i : i + size], own_addresses) for i in range(0, len(raws), size)]
        return _Joined(self, parts, raws, own_addresses)

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: no fork of this process's threads and database connections, and the
            # workers import only the reading code, once.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            self._alive = context.Pipe(duplex=False)
            self._pool = ProcessPoolExecutor(max_workers=self.processes, mp_context=context,
                                             initializer=_start_worker, initargs=(self._alive[0],))
        return self._pool

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._alive is not None:
            for end in self._alive:
                end.close()
            self._alive = None

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Joined(Future):
    """The readings of a batch that was split between worker processes."""

    def __init__(self, reader: Reader, parts: list[Future], raws: list[bytes], own_addresses: frozenset[str]):
        super().__init__()
        self.reader, self.parts, self.raws, self.own_addresses = reader, parts, raws, own_addresses

    def result(self, timeout: float | None = None) -> list[Reading]:
        """Return every part's readings, in order, waiting as needed; read here if a worker process died."""
        try:
            return [reading for part in self.parts for reading in part.result(timeout)]
        except BrokenProcessPool:
            log.exception("a mail reading process died; reading inline from now on")
            self.reader.broken = True
            return read_many(self.raws, self.own_addresses)
