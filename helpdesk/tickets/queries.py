"""Read tickets the way the console and the API list them.

Lists are keyset-paginated (the cursor names the last row's sort key and id,
so page 1,000 costs what page 1 does), and view counts stop at COUNT_CAP
instead of counting a million rows on every page view.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, bindparam, func, or_, select

from helpdesk.extensions import db
from helpdesk.models import Agent, Team, Ticket
from helpdesk.models.base import utcnow
from helpdesk.models.ticket import CHANNELS, OPEN_STATUSES
from helpdesk.search import matching

COUNT_CAP = 1000
#: How far ahead "Breaching soon" looks.
BREACHING_SOON = timedelta(hours=2)


class BadCursor(ValueError):
    """A pagination cursor this server did not make."""


@dataclass(frozen=True)
class Sort:
    """One way to order a list: a column and a direction, always tied by id."""

    label: str
    column: object  # an InstrumentedAttribute; None sorts by id alone
    descending: bool = True
    #: The column may be NULL: those rows come last, in id order.
    nullable: bool = False


SORTS = {
    "newest": Sort("Newest", None),
    "oldest": Sort("Oldest", None, descending=False),
    "updated": Sort("Recently updated", Ticket.updated_at),
    "priority": Sort("Priority", Ticket.priority_rank),
    "due": Sort("SLA due soonest", Ticket.sla_next_due_at, descending=False, nullable=True),
    "breached": Sort("Breached longest ago", Ticket.sla_breached_at, descending=False, nullable=True),
}


@dataclass(frozen=True)
class View:
    """A named list of tickets in the console."""

    key: str
    label: str
    where: object  # a function (agent) -> SQL condition
    #: The sort the view opens with when the agent has not picked one.
    sort: str = "newest"


def _open():
    # Rendered as literals, not parameters: only then can PostgreSQL match the partial
    # "open" indexes (a cached generic plan cannot prove `status IN ($1, $2, $3)` implies them).
    return Ticket.status.in_(bindparam("open_statuses", OPEN_STATUSES, expanding=True, literal_execute=True))


VIEWS = {
    view.key: view
    for view in [
        View("mine", "My open", lambda a: and_(Ticket.assignee_id == a.id, _open())),
        View("unassigned", "Unassigned", lambda a: and_(Ticket.assignee_id.is_(None), _open())),
        View("open", "All open", lambda a: _open()),
        View("pending", "Pending", lambda a: Ticket.status == "pending"),
        View("solved", "Solved", lambda a: Ticket.status == "solved"),
        *(
            View(f"channel:{c}", c.title() if c != "api" else "API",
                 lambda a, c=c: and_(Ticket.channel == c, _open()))
            for c in CHANNELS
        ),
        View("all", "All tickets", lambda a: Ticket.id.isnot(None)),
        View("breaching", "Breaching soon", lambda a: and_(
            _open(), Ticket.sla_breached_at.is_(None), Ticket.sla_next_due_at.isnot(None),
            Ticket.sla_next_due_at <= utcnow() + BREACHING_SOON), sort="due"),
        View("breached", "Breached", lambda a: and_(_open(), Ticket.sla_breached_at.isnot(None)),
             sort="breached"),
    ]
}


def visible_to(agent: Agent):
    """Return the condition that hides other teams' restricted tickets from ``agent``."""
    if agent.is_admin:
        return None
    mine = {t.id for t in agent.teams}
    hidden = [t for t in db.session.scalars(select(Team.id).where(Team.restricted)) if t not in mine]
    if not hidden:
        return None
    return or_(Ticket.team_id.is_(None), Ticket.team_id.notin_(hidden))


def can_see(agent: Agent, ticket: Ticket) -> bool:
    """Say whether ``agent`` may open ``ticket``."""
    team = ticket.team
    return agent.is_admin or team is None or not team.restricted or agent in team.members


@dataclass
class TicketFilter:
    """What a list asks for; every part optional."""

    view: str | None = None
    status: str | None = None
    channel: str | None = None
    assignee: Agent | None = None
    unassigned: bool = False
    query: str | None = None
    customer_id: int | None = None


def _conditions(agent: Agent, f: TicketFilter, scope: list | None = None) -> list:
    """Return the WHERE conditions of ``f``, plus ``scope`` (default: what ``agent`` may see)."""
    conditions = []
    if f.view:
        conditions.append(VIEWS[f.view].where(agent))
    if f.status:
        conditions.append(Ticket.status == f.status)
    if f.channel:
        conditions.append(Ticket.channel == f.channel)
    if f.assignee is not None:
        conditions.append(Ticket.assignee_id == f.assignee.id)
    if f.unassigned:
        conditions.append(Ticket.assignee_id.is_(None))
    if f.customer_id is not None:
        conditions.append(Ticket.customer_id == f.customer_id)
    if f.query:
        ticket_ids, customer_ids = matching(f.query)
        conditions.append(or_(Ticket.id.in_(ticket_ids), Ticket.customer_id.in_(customer_ids)))
    return conditions + (_scope(agent) if scope is None else scope)


def _scope(agent: Agent) -> list:
    """Return the conditions every list of ``agent`` shares: visible to them, not merged away."""
    visibility = visible_to(agent)
    return [Ticket.merged_into_id.is_(None)] + ([visibility] if visibility is not None else [])


def encode_cursor(sort: str, ticket: Ticket) -> str:
    """Return the opaque cursor that continues a list after ``ticket``."""
    column = SORTS[sort].column
    value = getattr(ticket, column.key) if column is not None else None
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps({"s": sort, "v": value, "id": ticket.id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[object, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != sort or not isinstance(data["id"], int):
            raise BadCursor("cursor belongs to another sort order")
        value = data["v"]
        column = SORTS[sort].column
        if value is None and SORTS[sort].nullable:
            return None, data["id"]
        if column is not None and column.key.endswith("_at"):
            value = datetime.fromisoformat(value)
        elif column is not None and not isinstance(value, int):
            raise BadCursor("bad cursor")
        return value, data["id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadCursor("cursor is not one this server made") from exc


def _keyset(sort: Sort, value, last_id: int):
    if sort.column is None:
        return Ticket.id < last_id if sort.descending else Ticket.id > last_id
    if sort.nullable:
        # NULLs come after every value (in id order), whichever way the values run.
        after_id = Ticket.id < last_id if sort.descending else Ticket.id > last_id
        if value is None:
            return and_(sort.column.is_(None), after_id)
        beyond = sort.column < value if sort.descending else sort.column > value
        return or_(beyond, and_(sort.column == value, after_id), sort.column.is_(None))
    if sort.descending:
        return or_(sort.column < value, and_(sort.column == value, Ticket.id < last_id))
    return or_(sort.column > value, and_(sort.column == value, Ticket.id > last_id))


def _ordered(stmt: Select, sort: Sort) -> Select:
    id_order = Ticket.id.desc() if sort.descending else Ticket.id.asc()
    if sort.column is None:
        return stmt.order_by(id_order)
    column_order = sort.column.desc() if sort.descending else sort.column.asc()
    return stmt.order_by(column_order.nulls_last() if sort.nullable else column_order, id_order)


def list_tickets(
    agent: Agent, f: TicketFilter, sort: str = "newest", cursor: str | None = None, limit: int = 50
) -> tuple[list[Ticket], str | None]:
    """Return one page of tickets and the cursor of the next page (or None)."""
    if sort not in SORTS:
        raise BadCursor(f"unknown sort {sort!r}")
    stmt = select(Ticket).where(*_conditions(agent, f))
    if cursor:
        stmt = stmt.where(_keyset(SORTS[sort], *_decode_cursor(cursor, sort)))
    rows = db.session.scalars(_ordered(stmt, SORTS[sort]).limit(limit + 1)).unique().all()
    next_cursor = encode_cursor(sort, rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _capped_count(conditions: list):
    inner = select(Ticket.id).where(*conditions).limit(COUNT_CAP).subquery()
    return select(func.count()).select_from(inner).scalar_subquery()


def capped_count(agent: Agent, f: TicketFilter) -> int:
    """Count the tickets of a list, stopping at COUNT_CAP (shown as "1000+")."""
    return db.session.scalar(select(_capped_count(_conditions(agent, f)))) or 0


def view_counts(agent: Agent, keys: list[str]) -> dict[str, int]:
    """Return the capped count of each named view, all in one round trip."""
    if not keys:
        return {}
    scope = _scope(agent)
    counts = [_capped_count(_conditions(agent, TicketFilter(view=key), scope)).label(f"c{i}")
              for i, key in enumerate(keys)]
    row = db.session.execute(select(*counts)).one()
    return {key: row[i] or 0 for i, key in enumerate(keys)}
