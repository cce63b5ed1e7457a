"""The transaction cache: rarely changed rows read once per transaction, and never stale within it."""

from __future__ import annotations

from sqlalchemy import event

from helpdesk.extensions import db
from helpdesk.models import SlaPolicy
from helpdesk.sla import policies


def _counting_selects():
    """Return a list that grows by one for every SELECT of the policy table from now on."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "sla_policy" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(db.engine, "before_cursor_execute", before)


def test_policies_are_read_once_per_transaction(app):
    first = policies.ordered()
    seen, stop = _counting_selects()
    try:
        assert [p.id for p in policies.ordered()] == [p.id for p in first]
        assert seen == []
        db.session.commit()
        policies.ordered()
        assert len(seen) == 1  # a new transaction reads them afresh
    finally:
        stop()


def test_a_policy_added_in_the_transaction_is_seen_at_once(app):
    before = policies.ordered()
    added = SlaPolicy(name="Added now", position=999, first_response_minutes=10)
    db.session.add(added)  # not flushed: the cached list must not be returned
    assert [p.name for p in policies.ordered()] == [p.name for p in before] + ["Added now"]
    # That read flushed the row first, so the list it kept holds it: no further read.
    seen, stop = _counting_selects()
    try:
        assert policies.ordered()[-1].name == "Added now"
        assert seen == []
        # Another new row drops the kept list as soon as it is added.
        db.session.add(SlaPolicy(name="Added later", position=1000, first_response_minutes=10))
        assert policies.ordered()[-1].name == "Added later"
        assert len(seen) == 1
    finally:
        stop()


def test_a_changed_policy_is_read_again(app):
    policy = policies.ordered()[0]
    policy.name = "Renamed"
    assert policies.ordered()[0].name == "Renamed"
    db.session.rollback()
    assert policies.ordered()[0].name != "Renamed"
