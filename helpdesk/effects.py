"""Run side effects (jobs, live events) only once the transaction has committed.

Services call ``on_commit(fn, *args)``; the functions run in order after the
session's next successful commit and are dropped if it rolls back, so a job
never reads a row that is not there yet and no event announces a change that
did not happen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_KEY = "helpdesk.on_commit"


def on_commit(fn: Callable, *args, **kwargs) -> None:
    """Run ``fn(*args, **kwargs)`` after the current transaction commits."""
    from helpdesk.extensions import db

    db.session().info.setdefault(_KEY, []).append((fn, args, kwargs))


@event.listens_for(Session, "after_commit")
def _run(session: Session) -> None:
    pending = session.info.pop(_KEY, [])
    for fn, args, kwargs in pending:
        try:
            fn(*args, **kwargs)
        except Exception:  # one failed side effect must not undo the others
            log.exception("after-commit effect %s failed", getattr(fn, "__name__", fn))


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous_transaction) -> None:
    session.info.pop(_KEY, None)
