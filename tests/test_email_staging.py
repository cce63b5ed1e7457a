"""The stager thread that fetches and stages the next batch of mail while the importer imports this one."""

from __future__ import annotations

import threading

import pytest

from helpdesk.channels.email.staging import _one_ahead, _Stager
from helpdesk.extensions import db


def test_batches_arrive_in_order_staged_in_a_session_of_their_own(app):
    sessions = []

    def stages():
        sessions.append(db.session())
        yield from range(5)

    stager = _Stager(app, stages)
    try:
        assert list(stager) == [0, 1, 2, 3, 4]
    finally:
        stager.stop()
    assert sessions and sessions[0] is not db.session()  # not the importer's (this test's app context)


def test_a_failure_while_staging_is_raised_in_the_importer(app):
    def stages():
        yield 1
        raise ConnectionResetError("the IMAP server went away")

    stager = _Stager(app, stages)
    received = []
    with pytest.raises(ConnectionResetError, match="went away"):
        for item in stager:
            received.append(item)
    stager.stop()
    assert received == [1]


def test_an_importer_that_stops_stops_the_stager_after_one_batch_ahead(app):
    produced = []
    released = threading.Event()

    def stages():
        for n in range(100):
            produced.append(n)
            yield n
            released.set()

    stager = _Stager(app, stages)
    for item in stager:
        assert item == 0
        released.wait(5)
        break
    stager.stop()
    assert not stager._thread.is_alive()
    assert len(produced) <= 3  # the batch taken, the one waiting, the one being staged: never the rest


def test_one_ahead_yields_each_item_after_the_next_is_produced():
    produced = []

    def items():
        for n in range(3):
            produced.append(n)
            yield n

    seen = []
    for item in _one_ahead(items()):
        seen.append((item, list(produced)))
    assert seen == [(0, [0, 1]), (1, [0, 1, 2]), (2, [0, 1, 2])]
    assert list(_one_ahead(iter(()))) == []
