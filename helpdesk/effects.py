"""Run side effects (jobs, live events) only once the transaction has committed.

Services call ``on_commit(fn, *args)``; the functions run in order after the
session's next successful commit and are dropped if it rolls back, so a job
never reads a row that is not there yet and no event announces a change that
did not happen. Savepoints count too: releasing one runs nothing yet, and
rolling one back drops only the effects queued inside it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)
_KEY = "helpdesk.on_commit"


def on_commit(fn: Callable, *args, **kwargs) -> None:
    """Run ``fn(*args, **kwargs)`` after the current transaction commits."""
    from helpdesk.extensions import db

    session = db.session()
    # Remember the innermost transaction, so rolling back a savepoint drops
    # only what was queued inside it; begin one if none has started yet, so a
    # rollback before any query still drops the effect.
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    session.info.setdefault(_KEY, []).append((transaction, fn, args, kwargs))


_READY = "helpdesk.on_commit.ready"


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released: the effects wait for the real commit
    session.info[_READY] = session.info.pop(_KEY, [])


@event.listens_for(Session, "after_transaction_end")
def _run(session: Session, transaction: SessionTransaction) -> None:
    # after_commit fires while the committed transaction still holds the session,
    # where no SQL may run; effects read the database, so they wait until it ends.
    if transaction.parent is not None or _READY not in session.info:
        return
    from helpdesk.realtime import batched

    pending = session.info.pop(_READY)
    keep = _prefetch(pending)  # noqa: F841 (holds the prefetched rows in the identity map while effects run)
    with batched():  # the live events of one commit travel together
        for _, fn, args, kwargs in pending:
            try:
                fn(*args, **kwargs)
            except Exception:  # one failed side effect must not undo the others
                log.exception("after-commit effect %s failed", getattr(fn, "__name__", fn))


def _prefetch(pending: list) -> list:
    """Let effects that read rows load them once for the whole commit (``fn.prefetch(list of args)``)."""
    calls: dict[Callable, list[tuple]] = {}
    for _, fn, args, _kwargs in pending:
        if getattr(fn, "prefetch", None) is not None:
            calls.setdefault(fn, []).append(args)
    loaded = []
    for fn, arg_lists in calls.items():
        if len(arg_lists) > 1:
            try:
                loaded.append(fn.prefetch(arg_lists))
            except Exception:  # only an optimisation: each effect still loads what it needs
                log.exception("prefetch for %s failed", getattr(fn, "__name__", fn))
    return loaded


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous_transaction: SessionTransaction) -> None:
    undone = previous_transaction  # a failed flush rolls back up to its savepoint or the root
    while undone.parent is not None and not undone.nested:
        undone = undone.parent
    if undone.parent is None:
        session.info.pop(_KEY, None)
        return
    pending = session.info.get(_KEY, [])
    pending[:] = [entry for entry in pending if not _within(entry[0], undone)]
