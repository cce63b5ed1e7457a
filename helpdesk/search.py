"""Full-text search over subjects, messages and customers.

One index table, ``search_index``, holds a row per ticket (its subject), per
message and per customer (names and identities). SQLite keeps it as an FTS5
table, PostgreSQL as a table with a generated ``tsvector`` under a GIN index;
the migration creates whichever fits. Rows are keyed by an encoded ``key``
so re-indexing one thing is a cheap delete and insert.
"""

from __future__ import annotations

import re

from sqlalchemy import text

from helpdesk.extensions import db

_KINDS = {"ticket": 0, "message": 1, "customer": 2}
#: Searches stop collecting matches here; the list then shows the newest.
MATCH_LIMIT = 2000
#: Characters of a text that are indexed.
MAX_BODY = 100_000


def _key(kind: str, ref_id: int) -> int:
    return ref_id * 4 + _KINDS[kind]


def key_sql(kind: str, id_column: str) -> str:
    """Return the SQL expression of ``_key`` for rows whose id is in ``id_column`` (for INSERT ... SELECT)."""
    return f"{id_column} * 4 + {_KINDS[kind]}"


def _key_column() -> str:
    # FTS5 tables look rows up fast only by rowid.
    return "key" if db.engine.dialect.name == "postgresql" else "rowid"


def _put(kind: str, ref_id: int, body: str, ticket_id: int | None, customer_id: int | None,
         new: bool = False) -> None:
    """Replace the row of ``kind``/``ref_id``; ``new`` says it was just created, so it has no row to delete."""
    key, column = _key(kind, ref_id), _key_column()
    # The index reads nothing the ORM holds back, so pending changes need not be flushed first.
    with db.session.no_autoflush:
        _write(column, key, body, ticket_id, customer_id, new)


def _write(column: str, key: int, body: str, ticket_id: int | None, customer_id: int | None, new: bool) -> None:
    if not new:
        db.session.execute(text(f"DELETE FROM search_index WHERE {column} = :key"), {"key": key})
    if body.strip():
        db.session.execute(
            text(
                f"INSERT INTO search_index ({column}, body, ticket_id, customer_id) "
                "VALUES (:key, :body, :ticket_id, :customer_id)"
            ),
            {"key": key, "body": body[:MAX_BODY], "ticket_id": ticket_id, "customer_id": customer_id},
        )


def index_new(tickets=(), messages=(), customers=()) -> None:
    """Index just-created (and flushed) tickets, messages and customers in one executemany INSERT."""
    rows = [{"key": _key("customer", c.id), "body": _customer_words(c), "ticket_id": None, "customer_id": c.id}
            for c in customers]
    rows += [{"key": _key("ticket", t.id), "body": f"{t.reference} {t.subject}", "ticket_id": t.id, "customer_id": None}
            for t in tickets]
    rows += [{"key": _key("message", m.id), "body": (m.body_text or "")[:MAX_BODY], "ticket_id": m.ticket_id,
              "customer_id": None} for m in messages if (m.body_text or "").strip()]
    _insert(rows)


def _insert(rows: list[dict]) -> None:
    """Insert index rows (key, body, ticket_id, customer_id) that do not exist yet, in one executemany."""
    if rows:
        db.session.execute(
            text(f"INSERT INTO search_index ({_key_column()}, body, ticket_id, customer_id) "
                 "VALUES (:key, :body, :ticket_id, :customer_id)"),
            rows,
        )


def index_message(message, new: bool = False) -> None:
    """Index one message's text under its ticket (``new``: the message was just created)."""
    _put("message", message.id, message.body_text or "", message.ticket_id, None, new)


def index_new_messages(rows: list[tuple[int, int, str]]) -> None:
    """Index messages just inserted without the ORM: (message id, ticket id, text) each, in one executemany."""
    _insert([{"key": _key("message", message_id), "body": body[:MAX_BODY], "ticket_id": ticket_id,
              "customer_id": None} for message_id, ticket_id, body in rows if body.strip()])


def _customer_words(customer) -> str:
    words = [customer.name or ""] + [i.value for i in customer.identities]
    # Index the local part and domain of addresses on their own too.
    words += [part for i in customer.identities if i.kind == "email" for part in i.value.split("@")]
    return " ".join(words)


def index_customer(customer, new: bool = False) -> None:
    """Index a customer's name and identities."""
    _put("customer", customer.id, _customer_words(customer), None, customer.id, new)


def reindex_ticket_messages(ticket) -> None:
    """Re-index every message of a ticket (after a merge moved them)."""
    for message in ticket.messages:
        index_message(message)


def _terms(query: str) -> list[str]:
    return re.findall(r"\w+", query or "")[:12]


def _match(query: str) -> tuple[str, dict] | None:
    terms = _terms(query)
    if not terms:
        return None
    if db.engine.dialect.name == "postgresql":
        expression = " & ".join(f"{t}:*" for t in terms)
        return "tsv @@ to_tsquery('simple', :q)", {"q": expression}
    expression = " ".join(f'"{t}"*' for t in terms)
    return "search_index MATCH :q", {"q": expression}


def matching(query: str) -> tuple[list[int], list[int]]:
    """Return (ticket ids, customer ids) whose indexed text matches ``query``."""
    match = _match(query)
    if match is None:
        return [], []
    where, params = match
    rows = db.session.execute(
        text(f"SELECT ticket_id, customer_id FROM search_index WHERE {where} LIMIT {MATCH_LIMIT}"), params
    ).all()
    tickets = sorted({r[0] for r in rows if r[0] is not None})
    customers = sorted({r[1] for r in rows if r[1] is not None})
    return tickets, customers
