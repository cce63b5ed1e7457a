"""Run a ticket's SLA clocks the way Zendesk does, and log every move so any due time can be explained.

- first_response starts with the ticket and is met by the first public agent reply;
- next_response runs from the oldest customer message an agent has not answered;
- resolution runs until the ticket is solved;
- pending pauses next_response and resolution; leaving pending resumes them.

A clock keeps the minutes it used in earlier running segments, so pausing,
resuming and changing policy all recompute the due time from what is left.
Breaches are claimed with a conditional UPDATE, so a timer job and the sweep
racing each other still breach a clock exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from helpdesk.effects import on_commit
from helpdesk.extensions import db
from helpdesk.models import SlaClock, SlaPolicy, Ticket
from helpdesk.models.base import utcnow
from helpdesk.sla import policies
from helpdesk.sla.calendar import BusinessCalendar, add_business_time, business_minutes_between
from helpdesk.tickets.events import entry, record, record_many

PAUSABLE = ("next_response", "resolution")


def _clock(ticket: Ticket, target: str) -> SlaClock | None:
    return db.session.scalar(select(SlaClock).where(SlaClock.ticket_id == ticket.id, SlaClock.target == target))


def clocks_of(ticket: Ticket) -> dict[str, SlaClock]:
    """Return the ticket's clocks by target."""
    return {c.target: c for c in db.session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket.id))}


def clocks_of_many(tickets: list[Ticket]) -> dict[int, dict[str, SlaClock]]:
    """Return the clocks of each ticket (by id), by target, in one query."""
    found: dict[int, dict[str, SlaClock]] = {ticket.id: {} for ticket in tickets}
    if found:
        for clock in db.session.scalars(select(SlaClock).where(SlaClock.ticket_id.in_(found))):
            found[clock.ticket_id][clock.target] = clock
    return found


def used_minutes(clock: SlaClock, now: datetime) -> float:
    """Return the minutes of its target the clock has used by ``now``."""
    used = clock.elapsed_minutes
    if clock.running:
        used += max(0.0, business_minutes_between(policies.calendar_for(clock.business), clock.segment_started_at, now))
    return used


def _due_times(clock: SlaClock | PlannedClock, policy: SlaPolicy | None,
               calendar: BusinessCalendar | None = None) -> None:
    """Compute the running clock's due and warning times (``calendar``: the clock's, when the caller has it)."""
    calendar = calendar or policies.calendar_for(clock.business)
    start = clock.segment_started_at
    clock.due_at = add_business_time(calendar, start, max(0.0, clock.target_minutes - clock.elapsed_minutes))
    warn_share = (policy.warn_percent if policy else 75) / 100
    clock.warn_at = None if clock.warned_at else add_business_time(
        calendar, start, max(0.0, clock.target_minutes * warn_share - clock.elapsed_minutes))


def _schedule(clock: SlaClock, policy: SlaPolicy | None) -> None:
    """Recompute the running clock's due and warning times and queue timers for them."""
    _due_times(clock, policy)
    from helpdesk.sla import timers

    on_commit(timers.schedule_many, [(clock.due_at, clock.warn_at)])


def sync_ticket(ticket: Ticket, clocks: list[SlaClock] | None = None) -> None:
    """Copy the clocks' due times onto the ticket, where lists and the API read them (``clocks``: already loaded)."""
    clocks = {c.target: c for c in clocks} if clocks is not None else clocks_of(ticket)
    for target in ("first_response", "next_response", "resolution"):
        clock = clocks.get(target)
        setattr(ticket, f"{target}_due_at", clock.due_at if clock is not None else None)
    running = [c.due_at for c in clocks.values() if c.running and c.breached_at is None and c.due_at]
    ticket.sla_next_due_at = min(running) if running else None


def _start(ticket: Ticket, target: str, policy: SlaPolicy, now: datetime) -> None:
    minutes = policy.minutes_for(target)
    if minutes is None:
        return
    clock = _clock(ticket, target)
    if clock is None:
        clock = SlaClock(ticket_id=ticket.id, target=target)
        db.session.add(clock)
    clock.policy_id, clock.business, clock.target_minutes = policy.id, policy.business_hours, minutes
    clock.elapsed_minutes, clock.segment_started_at, clock.started_at = 0.0, now, now
    clock.fulfilled_at = clock.breached_at = clock.warned_at = None
    _schedule(clock, policy)
    record(ticket, "sla.start", None, target=target, policy=policy.name, due_at=clock.due_at.isoformat(),
           minutes=minutes, business_hours=policy.business_hours)


OPENING_TARGETS = ("first_response", "resolution")


@dataclass
class PlannedClock:
    """A new ticket's clock before it is written: the values of its row (``_due_times`` fills in the times).

    Plain values, not an SlaClock: a mail batch plans hundreds, and the ORM's
    instrumentation was a tenth of planning them.
    """

    target: str
    policy_id: int
    business: bool
    target_minutes: float
    segment_started_at: datetime
    started_at: datetime
    elapsed_minutes: float = 0.0
    warned_at: datetime | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None


@dataclass
class Opening:
    """The clocks a new ticket starts, computed before the ticket is written (see ``plan_opening``)."""

    policy: SlaPolicy | None
    #: ``start_opened`` writes their rows once the ticket has an id.
    clocks: list[PlannedClock] = field(default_factory=list)


def plan_opening(ticket: Ticket, now: datetime) -> Opening:
    """Match a policy for a new ticket and compute its first-response and resolution clocks.

    The ticket gets its policy and due times here, before it is written, so
    they go into its INSERT; ``start_opened`` writes the clocks once the
    ticket has an id.
    """
    policy = policies.match(ticket)
    ticket.sla_policy_id = policy.id if policy else None
    opening = Opening(policy)
    calendar = policies.calendar_for(policy.business_hours) if policy is not None else None
    for target in OPENING_TARGETS if policy is not None else ():
        minutes = policy.minutes_for(target)
        if minutes is None:
            continue
        clock = PlannedClock(target=target, policy_id=policy.id, business=policy.business_hours,
                             target_minutes=minutes, segment_started_at=now, started_at=now)
        _due_times(clock, policy, calendar)
        opening.clocks.append(clock)
    due = {clock.target: clock.due_at for clock in opening.clocks}
    for target in ("first_response", "next_response", "resolution"):
        setattr(ticket, f"{target}_due_at", due.get(target))
    ticket.sla_next_due_at = min(due.values()) if due else None
    return opening


#: What a planned clock's row holds besides its ticket (the rest start empty).
_PLANNED = ("target", "policy_id", "business", "target_minutes", "elapsed_minutes", "segment_started_at",
            "started_at", "due_at", "warn_at")


def start_opened(openings: list[tuple[Ticket, Opening]]) -> None:
    """Write the planned clocks of new tickets that have ids, log their start, and queue their timers.

    Clocks and log entries are written at once, each kind with one executemany
    INSERT: nothing reads them back as objects in the transaction (``clocks_of``
    queries), so the unit of work has nothing to track. The timers of all the
    tickets are queued after the commit in one call (one Redis round trip,
    one job per due second).
    """
    rows, entries, times = [], [], []
    for ticket, opening in openings:
        for clock in opening.clocks:
            rows.append({"ticket_id": ticket.id, **{name: getattr(clock, name) for name in _PLANNED}})
            entries.append(entry(ticket, "sla.start", None, target=clock.target, policy=opening.policy.name,
                                 due_at=clock.due_at.isoformat(), minutes=clock.target_minutes,
                                 business_hours=opening.policy.business_hours))
            times.append((clock.due_at, clock.warn_at))
    if rows:
        db.session.execute(insert(SlaClock), rows)
        record_many(entries)
        from helpdesk.sla import timers

        on_commit(timers.schedule_many, times)


def on_ticket_opened(ticket: Ticket, now: datetime | None = None) -> None:
    """Match a policy and start the first-response and resolution clocks."""
    opening = plan_opening(ticket, now or utcnow())
    if opening.clocks:
        db.session.flush()  # the clocks need the ticket's id
    start_opened([(ticket, opening)])


def _fulfil(ticket: Ticket, clock: SlaClock | None, now: datetime, why: str) -> None:
    if clock is None or clock.fulfilled_at is not None:
        return
    clock.elapsed_minutes = used_minutes(clock, now)
    clock.segment_started_at, clock.fulfilled_at = None, now
    record(ticket, "sla.fulfil", None, target=clock.target, why=why, breached=clock.breached_at is not None,
           used_minutes=round(clock.elapsed_minutes, 2))


def on_agent_reply(ticket: Ticket, now: datetime | None = None) -> None:
    """Meet first response (once) and the running next response."""
    now = now or utcnow()
    clocks = clocks_of(ticket)
    _fulfil(ticket, clocks.get("first_response"), now, "first public reply")
    _fulfil(ticket, clocks.get("next_response"), now, "public reply")
    sync_ticket(ticket)


def on_customer_message(ticket: Ticket, now: datetime | None = None,
                        clocks: dict[str, SlaClock] | None = None) -> None:
    """Start next response from this message when the customer's last one was answered.

    ``clocks``: the ticket's clocks by target, when the caller loaded them already.
    """
    now = now or utcnow()
    clocks = clocks_of(ticket) if clocks is None else clocks
    first = clocks.get("first_response")
    if first is not None and first.fulfilled_at is None:
        return  # still waiting for the first reply: that clock covers this message
    current = clocks.get("next_response")
    if current is not None and current.fulfilled_at is None:
        return  # an older message is still unanswered: the clock runs from that one
    policy = db.session.get(SlaPolicy, ticket.sla_policy_id) if ticket.sla_policy_id else None
    if policy is not None:
        _start(ticket, "next_response", policy, now)
        if ticket.status == "pending":
            _pause(ticket, _clock(ticket, "next_response"), now)
    sync_ticket(ticket)


def _pause(ticket: Ticket, clock: SlaClock | None, now: datetime) -> None:
    if clock is None or not clock.running:
        return
    clock.elapsed_minutes = used_minutes(clock, now)
    clock.segment_started_at = clock.due_at = clock.warn_at = None
    record(ticket, "sla.pause", None, target=clock.target, used_minutes=round(clock.elapsed_minutes, 2))


def _resume(ticket: Ticket, clock: SlaClock | None, now: datetime) -> None:
    if clock is None or clock.segment_started_at is not None:
        return
    clock.segment_started_at, clock.fulfilled_at = now, None
    _schedule(clock, clock.policy)
    record(ticket, "sla.resume", None, target=clock.target, due_at=clock.due_at.isoformat(),
           used_minutes=round(clock.elapsed_minutes, 2))


def on_status_change(ticket: Ticket, old: str, new: str, now: datetime | None = None) -> None:
    """Pause, resume or stop clocks as the ticket moves between statuses."""
    now = now or utcnow()
    clocks = clocks_of(ticket)
    if new == "pending":
        for target in PAUSABLE:
            _pause(ticket, clocks.get(target), now)
    elif new in ("solved", "closed"):
        for clock in clocks.values():
            _fulfil(ticket, clock, now, f"ticket {new}")
    elif old in ("pending", "solved", "closed"):
        resolution = clocks.get("resolution")
        if resolution is not None and old != "pending":
            resolution.fulfilled_at = None  # reopened: the resolution clock goes on from where it stopped
        _resume(ticket, resolution, now)
        next_response = clocks.get("next_response")
        if next_response is not None and next_response.fulfilled_at is None:
            _resume(ticket, next_response, now)
    sync_ticket(ticket)


def on_reclassify(ticket: Ticket, now: datetime | None = None) -> None:
    """Re-match the policy after a change of priority or VIP and move the due times."""
    now = now or utcnow()
    policy = policies.match(ticket)
    if policy is None or policy.id == ticket.sla_policy_id:
        return
    record(ticket, "sla.policy", None, **{"from": ticket.sla_policy_id, "to": policy.name})
    ticket.sla_policy_id = policy.id
    for clock in clocks_of(ticket).values():
        if clock.fulfilled_at is not None:
            continue
        minutes = policy.minutes_for(clock.target)
        if minutes is None:
            _fulfil(ticket, clock, now, f"no {clock.target} target in {policy.name}")
            continue
        if clock.running:
            clock.elapsed_minutes = used_minutes(clock, now)
            clock.segment_started_at = now
        clock.policy_id, clock.target_minutes, clock.business = policy.id, minutes, policy.business_hours
        if clock.running:
            _schedule(clock, policy)
            record(ticket, "sla.retarget", None, target=clock.target, due_at=clock.due_at.isoformat(), minutes=minutes)
    sync_ticket(ticket)


def check(ticket_id: int, target: str, now: datetime | None = None) -> str:
    """Warn or breach one clock if its time has come; never early, never twice."""
    now = now or utcnow()
    clock = db.session.scalar(select(SlaClock).where(SlaClock.ticket_id == ticket_id, SlaClock.target == target))
    if clock is None or not clock.running or clock.breached_at is not None:
        return "nothing to do"
    if clock.due_at is not None and clock.due_at <= now:
        if not _claim(SlaClock.breached_at, SlaClock.due_at, now, only=clock.id):
            return "already breached"
        _breach_claimed([clock.id], now)
        return "breached"
    if clock.warn_at is not None and clock.warned_at is None and clock.warn_at <= now:
        if _claim(SlaClock.warned_at, SlaClock.warn_at, now, only=clock.id):
            _warn_claimed([clock.id], now)
            return "warned"
    return "not yet"


def check_due(now: datetime, limit: int = 500) -> dict[str, int]:
    """Breach, then warn, every clock whose time has come by ``now`` (up to ``limit`` of each); return counts.

    Set-based: one UPDATE ... RETURNING claims all the due clocks at once (rows
    another pass holds are skipped, not waited for), one query loads their
    tickets and one their sibling clocks, and the events go out in one flush.
    A clock breached in this pass is not also warned.
    """
    breached = _claim(SlaClock.breached_at, SlaClock.due_at, now, limit=limit)
    if breached:
        _breach_claimed(breached, now)
    warned = _claim(SlaClock.warned_at, SlaClock.warn_at, now, limit=limit)
    if warned:
        _warn_claimed(warned, now)
    return {"breached": len(breached), "warned": len(warned)}


def _running():
    return SlaClock.segment_started_at.isnot(None) & SlaClock.fulfilled_at.is_(None)


def _claim(stamp, at, now: datetime, limit: int = 500, only: int | None = None) -> list[int]:
    """Set ``stamp`` (breached_at or warned_at) to ``now`` on running clocks whose ``at`` has passed; return their ids.

    The conditions are checked again by the UPDATE itself, so a clock that was
    met, paused or moved meanwhile, or claimed by a concurrent pass, is left
    alone: never early, never twice.
    """
    due = _running() & stamp.is_(None) & (at <= now) & SlaClock.breached_at.is_(None)
    if stamp is SlaClock.warned_at:
        due = due & (SlaClock.due_at > now)  # a clock already due is breached, not warned
    if only is not None:
        due = due & (SlaClock.id == only)
    # Lock, then update: "id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)" in one statement may
    # be re-run per row by PostgreSQL (skipping the rows it just updated) and claim more than n.
    picked = db.session.scalars(select(SlaClock.id).where(due).order_by(SlaClock.id).limit(limit)
                                .with_for_update(skip_locked=True)).all()
    if not picked:
        return []
    claimed = db.session.scalars(
        update(SlaClock).where(SlaClock.id.in_(picked), due).values({stamp.key: now})
        .returning(SlaClock.id).execution_options(synchronize_session=False)
    )
    return sorted(claimed)


def _load(clock_ids: list[int]) -> tuple[list[SlaClock], dict[int, Ticket], dict[int, list[SlaClock]]]:
    """Load claimed clocks afresh, their tickets, and every clock of those tickets (for sync_ticket)."""
    policies.ordered()  # policies in the identity map: clock.policy then costs no query
    claimed = set(clock_ids)
    ticket_ids = db.session.scalars(select(SlaClock.ticket_id).where(SlaClock.id.in_(clock_ids))).all()
    siblings: dict[int, list[SlaClock]] = {}
    for clock in db.session.scalars(select(SlaClock).where(SlaClock.ticket_id.in_(set(ticket_ids)))
                                    .execution_options(populate_existing=True)):
        siblings.setdefault(clock.ticket_id, []).append(clock)
    tickets = {t.id: t for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(set(ticket_ids)))
                                                   .execution_options(populate_existing=True))}
    clocks = sorted((c for group in siblings.values() for c in group if c.id in claimed), key=lambda c: c.id)
    return clocks, tickets, siblings


def _breach_claimed(clock_ids: list[int], now: datetime) -> None:
    from helpdesk.sla import breach

    clocks, tickets, siblings = _load(clock_ids)
    for clock in clocks:
        breach.breach(tickets[clock.ticket_id], clock, now, siblings[clock.ticket_id])
    on_commit(breach.notify, [(clock.ticket_id, clock.target) for clock in clocks])


def _warn_claimed(clock_ids: list[int], now: datetime) -> None:
    from helpdesk import realtime

    clocks, tickets, _ = _load(clock_ids)
    for clock in clocks:
        record(tickets[clock.ticket_id], "sla.warn", None, target=clock.target, due_at=clock.due_at.isoformat())
        on_commit(realtime.ticket_changed, clock.ticket_id, "sla_warning")


def next_due(now: datetime) -> datetime | None:
    """Return the earliest warning or due time still to be handled (for the timer loop's sleep)."""
    from sqlalchemy import func

    running = _running()
    due = db.session.scalar(select(func.min(SlaClock.due_at)).where(running, SlaClock.breached_at.is_(None)))
    warn = db.session.scalar(select(func.min(SlaClock.warn_at)).where(running, SlaClock.warned_at.is_(None)))
    times = [t for t in (due, warn) if t is not None]
    if not times:
        return None
    earliest = min(times)
    return earliest.replace(tzinfo=UTC) if earliest.tzinfo is None else earliest


def due_clocks(now: datetime, limit: int = 500) -> list[tuple[int, str]]:
    """Return (ticket id, target) of running clocks whose warning or due time has passed unhandled."""
    running = _running()
    # Ordered by id: two passes that overlap (the timer loop and the sweep) lock rows in
    # the same order, so they wait for each other instead of deadlocking.
    breach = select(SlaClock.ticket_id, SlaClock.target).where(
        running, SlaClock.breached_at.is_(None), SlaClock.due_at <= now).order_by(SlaClock.id).limit(limit)
    warn = select(SlaClock.ticket_id, SlaClock.target).where(
        running, SlaClock.warned_at.is_(None), SlaClock.warn_at <= now).order_by(SlaClock.id).limit(limit)
    return list(dict.fromkeys([*db.session.execute(breach).all(), *db.session.execute(warn).all()]))
