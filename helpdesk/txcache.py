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


def _pending(session: Session, models: tuple[type, ...], groups: tuple[str, ...] = ("new", "dirty", "deleted")
             ) -> bool:
    """Say whether the session holds unflushed new, changed or deleted rows of ``models``."""
    return any(isinstance(obj, models) for group in groups for obj in getattr(session, group))


def cached(name: str, models: tuple[type, ...], loader: Callable[[], Any]) -> Any:
    """Return ``loader()``, computed at most once per transaction while no row of ``models`` changes."""
    from helpdesk.extensions import db

    session = db.session()
    store = session.info.setdefault(_KEY, {})
    # A row added after the value was stored drops it at once (_added), so only changed and deleted
    # rows are looked for here: the session's new rows, hundreds in a mail batch, are not walked each time.
    if name in store and not _pending(session, models, ("dirty", "deleted")):
        return store[name][1]
    value = loader()
    if not _pending(session, models, ("new",)):
        store[name] = (models, value)
    else:
        store.pop(name, None)
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


@event.listens_for(Session, "transient_to_pending")
def _added(session: Session, instance) -> None:
    store = session.info.get(_KEY)
    if not store:
        return
    for name, (models, _) in list(store.items()):
        if isinstance(instance, models):
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
