"""Settings of long-running processes: the web server and the mail importer."""

from __future__ import annotations

import gc

#: The collector's thresholds in long-running processes (CPython's default is 700, 10, 10): see tune_gc.
GC_THRESHOLDS = (20_000, 20, 20)


def tune_gc() -> None:
    """Keep the cyclic garbage collector from stopping the process for a tenth of a second every few seconds.

    With a thousand sockets open and the default thresholds, a full collection
    ran about every two seconds under chat load and paused the whole server
    for 90 to 175 ms each time: that was the chat round trip's p99. The mail
    importer builds and drops thousands of objects per batch and paid the
    same way (measured, docs/benchmarks.md). What the app built at start-up
    (modules, mappers, compiled statements) lives as long as the process, so
    it is frozen out of the collector's sight; and a first generation of
    20,000 objects instead of 700 lets short-lived objects die young instead
    of being promoted, and the promotions are what made full collections
    come due. Cyclic garbage still goes, within 20,000 allocations.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
