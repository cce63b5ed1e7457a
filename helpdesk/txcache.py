"""Remember rarely changed rows (SLA policies, the business calendar, teams) for one transaction.

Importing a batch of mail opens hundreds of tickets in one transaction, and
each used to read the same policies, calendar and teams again. ``cached``
keeps what a loader returned in the session until the transaction ends, so
the next transaction (and every other process) reads them afresh. Within the
transaction the cache is dropped as soon as the session adds, changes or
deletes a row of a watched model, or a savepoint rolls back, so a change made
in this transaction is seen exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_KEY = "helpdesk.txcache"


def _pending(session: Session, models: tuple[type, ...]) -> bool:
    """Say whether the session holds unflushed new, changed or deleted rows of ``models``."""
    return any(isinstance(obj, models) for group in (session.new, session.dirty, session.deleted) for obj in group)


def cached(name: str, models: tuple[type, ...], loader: Callable[[], Any]) -> Any:
    """Return ``loader()``, computed at most once per transaction while no row of ``models`` changes."""
    from helpdesk.extensions import db

    session = db.session()
    store = session.info.setdefault(_KEY, {})
    if name in store and not _pending(session, models):
        return store[name][1]
    value = loader()
    store[name] = (models, value)
    return value


def forget(name: str | None = None) -> None:
    """Drop one cached value (or all) of the current session."""
    from helpdesk.extensions import db

    store = db.session().info.get(_KEY)
    if store is None:
        return
    if name is None:
        store.clear()
    else:
        store.pop(name, None)


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, context) -> None:
    store = session.info.get(_KEY)
    if not store:
        return
    changed = [*session.new, *session.dirty, *session.deleted]  # still the pre-flush lists here
    if not changed:
        return
    for name, (models, _) in list(store.items()):
        if any(isinstance(obj, models) for obj in changed):
            del store[name]


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    session.info.pop(_KEY, None)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_KEY, None)


@event.listens_for(Session, "do_orm_execute")
def _bulk_change(state) -> None:
    if state.is_update or state.is_delete:  # an UPDATE or DELETE statement may touch any watched row
        state.session.info.pop(_KEY, None)
