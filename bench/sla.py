"""SLA: breach detection lateness, acknowledgements through Redis crashes, commit-to-SMTP latency.

Each figure runs real ``python -m workers`` processes (supervisor + RQ worker
child) on its own PostgreSQL schema of the bench database (``bench_sla_breach``,
``bench_sla_redis``, ``bench_sla_ack``, reset at every run), a throwaway
redis-server and an aiosmtpd server that notes when each mail arrived. Tickets
are created in this process through the ticket service
(``helpdesk.tickets.receive``), so their timers and acknowledgements are
queued after each commit exactly as the web app and the mail watcher do.

- ``breach``: 10,000 phone tickets under a first-response target of 3 minutes
  (24/7); for every clock, breached_at (the instant the worker checked) minus
  due_at;
- ``redis_restarts``: 300 web tickets, each owing an acknowledgement, created
  over 30 s while redis-server is SIGKILLed and restarted on its port 3 times;
- ``acknowledgements``: 2,000 web tickets committed one by one as fast as this
  process can; per ticket, commit -> the SMTP server receiving its
  acknowledgement; then the workers' rate, draining 2,000 queued ones.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import select

from bench import stack
from bench.tickets_list import database_url, server_version
from tests.support.servers import RedisServer

log = logging.getLogger("bench")

WORKERS = 2
BREACH_TICKETS = 10_000
BREACH_MINUTES = 3.0
BREACH_P99_GOAL_MS = 1500.0
RESTART_TICKETS, RESTART_SECONDS, RESTART_KILLS, RESTART_WITHIN = 300, 30.0, 3, 90.0
SWEEP_SECONDS = 60
ACK_TICKETS, ACK_P99_GOAL_MS, ACK_RATE_GOAL = 2_000, 100.0, 200.0


def _start_workers(env: dict, count: int, redis_url: str, workdir: Path, name: str) -> list[stack.Process]:
    """Start ``count`` supervised workers and wait until each RQ worker has registered."""
    import redis

    procs = [stack.workers(env, workdir / f"{name}-{n}.log").start() for n in range(count)]
    client = redis.Redis.from_url(redis_url)
    if not stack.wait_until(lambda: client.scard("rq:workers") >= count, timeout=60):
        raise RuntimeError(f"workers did not register; see {workdir}")
    return procs


def _stop(procs: list[stack.Process]) -> None:
    for proc in procs:
        proc.stop()


def _inbound(channel: str, n: int, prefix: str):
    from helpdesk import tickets

    return tickets.Inbound(channel=channel, contact=tickets.Contact(email=f"{prefix}{n}@example.com",
                                                                    name=f"Customer {n}"),
                           subject=f"{prefix} request {n}", body_text="Hello, my order has not arrived yet.",
                           thread=False)


def _create(app, count: int, channel: str, prefix: str, commit_every: int = 1, pace: float = 0.0,
            on_progress=None) -> dict[int, float]:
    """Open ``count`` tickets; return each ticket id's commit instant (wall clock)."""
    from helpdesk import tickets
    from helpdesk.extensions import db

    committed: dict[int, float] = {}
    pending: list[int] = []
    started = time.monotonic()
    with app.app_context():
        for n in range(count):
            pending.append(tickets.receive(_inbound(channel, n, prefix)).ticket.id)
            if len(pending) >= commit_every or n == count - 1:
                db.session.commit()
                now = time.time()
                committed.update((t, now) for t in pending)
                pending = []
            if on_progress:
                on_progress(n)
            if pace:
                time.sleep(max(0.0, started + (n + 1) * pace - time.monotonic()))
        db.session.remove()
    return committed


def _references(app) -> dict[str, int]:
    from helpdesk.extensions import db
    from helpdesk.models import Ticket

    with app.app_context():
        try:
            return {t.reference: t.id for t in db.session.scalars(select(Ticket))}
        finally:
            db.session.remove()


def _acks_by_ticket(smtp: stack.SmtpSink, references: dict[str, int]) -> dict[int, list[float]]:
    """Return each ticket's acknowledgement arrival instants, by the reference in the subject."""
    arrivals: dict[int, list[float]] = {}
    for arrived, headers in smtp.headers():
        found = re.search(r"\[([A-Z]+-\d+)\]", headers.get("Subject", ""))
        if found and found[1] in references:
            arrivals.setdefault(references[found[1]], []).append(arrived)
    return arrivals


def breach(workdir: Path, count: int) -> dict:
    """Measure breached_at - due_at over ``count`` first-response clocks coming due together."""
    from helpdesk.extensions import db
    from helpdesk.models import SlaClock
    from helpdesk.sla.policies import create_policy

    stack.reset_schema("bench_sla_breach")
    redis = RedisServer().start()
    smtp = stack.SmtpSink().start()
    env = stack.environment("bench_sla_breach", redis.url, str(workdir / "attachments"),
                            SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port)
    app = stack.make_app(env)
    with app.app_context():
        create_policy("Bench breach", first_response_minutes=BREACH_MINUTES, business_hours=False, position=-1)
        db.session.commit()
        db.session.remove()
    procs = _start_workers(env, WORKERS, redis.url, workdir, "workers-breach")
    try:
        load = stack.load_average()
        log.info("breach: creating %d phone tickets (load %s) ...", count, load)
        started = time.monotonic()
        _create(app, count, "phone", "breach", commit_every=50)
        create_seconds = time.monotonic() - started
        log.info("breach: created in %.0fs; waiting for every clock to breach ...", create_seconds)

        def rows():
            with app.app_context():
                try:
                    return db.session.execute(select(SlaClock.due_at, SlaClock.breached_at)
                                              .where(SlaClock.target == "first_response")).all()
                finally:
                    db.session.remove()

        stack.wait_until(lambda: all(b is not None for _, b in rows()),
                         timeout=BREACH_MINUTES * 60 + 120, every=5)
        load_after = stack.load_average()
    finally:
        _stop(procs)
        smtp.stop()
        redis.stop()
    clocks = rows()
    late = [(b - d).total_seconds() for d, b in clocks if b is not None]
    early = sum(1 for s in late if s < 0)
    figures = stack.stats(late)
    due = sorted(d for d, _ in clocks)
    result = {"case": "breach", "tickets": count, "workers": WORKERS, "create_seconds": round(create_seconds, 1),
              "due_spread_seconds": round((due[-1] - due[0]).total_seconds(), 1), "breached": len(late),
              "unbreached": len(clocks) - len(late), "early": early, "lateness": figures,
              "load_before": load, "load_after": load_after,
              "goal": f"p99 <= {BREACH_P99_GOAL_MS:g} ms, never early"}
    result["meets_goal"] = (not early and not result["unbreached"]
                            and figures.get("p99_ms", 1e9) <= BREACH_P99_GOAL_MS)
    log.info("breach: %s", result)
    return result


def _kill_redis(redis: RedisServer, at: list[float], started: float, kills: list[float]) -> None:
    """SIGKILL redis-server at each offset of ``at`` seconds and restart it on its port a second later."""
    for offset in at:
        time.sleep(max(0.0, started + offset - time.monotonic()))
        redis.kill()
        kills.append(time.time())
        time.sleep(1.0)
        redis.start()


def redis_restarts(workdir: Path) -> dict:
    """Create tickets owing acknowledgements while Redis dies 3 times; count missed, duplicate, late ones."""
    stack.reset_schema("bench_sla_redis")
    redis = RedisServer().start()
    smtp = stack.SmtpSink().start()
    env = stack.environment("bench_sla_redis", redis.url, str(workdir / "attachments"), SMTP_HOST="127.0.0.1",
                            SMTP_PORT=smtp.port, HELPDESK_SWEEP_SECONDS=SWEEP_SECONDS)
    app = stack.make_app(env)
    procs = _start_workers(env, WORKERS, redis.url, workdir, "workers-redis")
    kills: list[float] = []
    try:
        load = stack.load_average()
        log.info("redis_restarts: %d web tickets over %.0fs, redis killed %d times (load %s) ...",
                 RESTART_TICKETS, RESTART_SECONDS, RESTART_KILLS, load)
        started = time.monotonic()
        offsets = [RESTART_SECONDS * (k + 0.5) / RESTART_KILLS for k in range(RESTART_KILLS)]
        killer = threading.Thread(target=_kill_redis, args=(redis, offsets, started, kills), daemon=True)
        killer.start()
        committed = _create(app, RESTART_TICKETS, "web", "restart", pace=RESTART_SECONDS / RESTART_TICKETS)
        killer.join(30)
        log.info("redis_restarts: created; waiting up to %ds for the acknowledgements ...", 3 * SWEEP_SECONDS)
        stack.wait_until(lambda: smtp.count() >= RESTART_TICKETS, timeout=3 * SWEEP_SECONDS, every=1)
        time.sleep(10)  # let a late duplicate show itself
        load_after = stack.load_average()
    finally:
        _stop(procs)
        smtp.stop()
        redis.stop()
    arrivals = _acks_by_ticket(smtp, _references(app))
    delays = [min(arrivals[t]) - c for t, c in committed.items() if t in arrivals]
    result = {"case": "redis_restarts", "tickets": RESTART_TICKETS, "redis_kills": len(kills),
              "sweep_seconds": SWEEP_SECONDS, "acknowledgements": sum(map(len, arrivals.values())),
              "missed": sum(1 for t in committed if t not in arrivals),
              "duplicated": sum(len(a) - 1 for a in arrivals.values() if len(a) > 1),
              "later_than_90s": sum(1 for d in delays if d > RESTART_WITHIN), "delay": stack.stats(delays),
              "load_before": load, "load_after": load_after,
              "goal": f"0 missed, 0 duplicated, each within {RESTART_WITHIN:g} s"}
    result["meets_goal"] = not (result["missed"] or result["duplicated"] or result["later_than_90s"])
    log.info("redis_restarts: %s", result)
    return result


def _drain_rate(app, env: dict, redis_url: str, smtp: stack.SmtpSink, workdir: Path) -> tuple[float, int]:
    """Queue ACK_TICKETS acknowledgements with no worker running, start the workers; return acks/s and dupes."""
    already = smtp.count()
    committed = _create(app, ACK_TICKETS, "web", "drain", commit_every=50)
    procs = _start_workers(env, WORKERS, redis_url, workdir, "workers-drain")
    try:
        stack.wait_until(lambda: smtp.count() >= already + ACK_TICKETS, timeout=300, every=0.5)
        time.sleep(3)
    finally:
        _stop(procs)
    arrivals = _acks_by_ticket(smtp, _references(app))
    firsts = sorted(min(arrivals[t]) for t in committed if t in arrivals)
    duplicated = sum(len(a) - 1 for t, a in arrivals.items() if t in committed and len(a) > 1)
    if len(firsts) < 2:
        return 0.0, duplicated
    return (len(firsts) - 1) / (firsts[-1] - firsts[0]), duplicated


def acknowledgements(workdir: Path) -> dict:
    """Commit 2,000 tickets one by one, as fast as this process can: time commit -> acknowledgement at SMTP.

    This process commits about as fast as one web process, far below the
    worker's capacity, so the rate is measured apart: 2,000 more tickets are
    committed with the workers stopped, then the workers start and drain the
    queue; the rate is acknowledgements received per second from the first to
    the last.
    """
    stack.reset_schema("bench_sla_ack")
    redis = RedisServer().start()
    smtp = stack.SmtpSink().start()
    env = stack.environment("bench_sla_ack", redis.url, str(workdir / "attachments"), SMTP_HOST="127.0.0.1",
                            SMTP_PORT=smtp.port)
    app = stack.make_app(env)
    procs = _start_workers(env, WORKERS, redis.url, workdir, "workers-ack")
    try:
        _create(app, 20, "web", "warmup")  # the workers' first job loads templates, babel, the SMTP connection
        stack.wait_until(lambda: smtp.count() >= 20, timeout=30)
        load = stack.load_average()
        log.info("acknowledgements: committing %d web tickets (load %s) ...", ACK_TICKETS, load)
        started = time.monotonic()
        committed = _create(app, ACK_TICKETS, "web", "ack")
        create_seconds = time.monotonic() - started
        stack.wait_until(lambda: smtp.count() >= ACK_TICKETS + 20, timeout=300, every=0.5)
        time.sleep(3)
        _stop(procs)
        procs = []
        log.info("acknowledgements: %d more with the workers stopped, then the drain rate ...", ACK_TICKETS)
        rate, drain_duplicated = _drain_rate(app, env, redis.url, smtp, workdir)
        load_after = stack.load_average()
    finally:
        _stop(procs)
        smtp.stop()
        redis.stop()
    arrivals = _acks_by_ticket(smtp, _references(app))
    delays = [min(arrivals[t]) - c for t, c in committed.items() if t in arrivals]
    figures = stack.stats(delays)
    result = {"case": "acknowledgements", "tickets": ACK_TICKETS, "workers": WORKERS,
              "commits_per_second": round(ACK_TICKETS / create_seconds, 1), "acknowledged": len(delays),
              "duplicated": drain_duplicated + sum(
                  len(a) - 1 for t, a in arrivals.items() if t in committed and len(a) > 1),
              "acknowledgements_per_second": round(rate, 1), "delay": figures, "load_before": load,
              "load_after": load_after, "goal": f"p99 <= {ACK_P99_GOAL_MS:g} ms, >= {ACK_RATE_GOAL:g}/s"}
    result["meets_goal"] = (len(delays) == ACK_TICKETS and figures.get("p99_ms", 1e9) <= ACK_P99_GOAL_MS
                            and rate >= ACK_RATE_GOAL and not result["duplicated"])
    log.info("acknowledgements: %s", result)
    return result


def run(args) -> dict:
    """Run the SLA figures selected by ``--cases``."""
    cases = args.cases or ["breach", "redis_restarts", "acknowledgements"]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-sla-") as workdir:
        log.info("logs of the workers: %s (removed at the end)", workdir)
        if "breach" in cases:
            results.append(breach(Path(workdir), args.tickets or BREACH_TICKETS))
        if "redis_restarts" in cases:
            results.append(redis_restarts(Path(workdir)))
        if "acknowledgements" in cases:
            results.append(acknowledgements(Path(workdir)))
    return {"name": "sla", "database": {"server": server_version(database_url())}, "results": results}


def markdown(report: dict) -> str:
    """Return the figures as Markdown rows for docs/benchmarks.md."""
    lines = ["| Figure | Result | Goal | Met | Load (1 min) |", "|---|---|---|---|---|"]
    for r in report["results"]:
        load = f"{r['load_before'][0]:.1f} → {r['load_after'][0]:.1f}"
        met = "yes" if r["meets_goal"] else "**no**"
        if r["case"] == "breach":
            f = r["lateness"]
            text = f"{r['tickets']:,} clocks due over {r['due_spread_seconds']:.0f} s, {r['workers']} workers: " \
                   f"lateness p50 **{f['p50_ms'] / 1000:.2f} s**, p99 **{f['p99_ms'] / 1000:.2f} s**, " \
                   f"max {f['max_ms'] / 1000:.2f} s;" \
                   f" {r['early']} early, {r['unbreached']} not breached"
        elif r["case"] == "redis_restarts":
            f = r["delay"]
            text = f"{r['tickets']} tickets, Redis killed {r['redis_kills']}×, sweep every {r['sweep_seconds']} s: " \
                   f"{r['missed']} missed, {r['duplicated']} duplicated, {r['later_than_90s']} later than 90 s " \
                   f"(delay p50 {f.get('p50_ms', 0) / 1000:.1f} s, max {f.get('max_ms', 0) / 1000:.1f} s)"
        else:
            f = r["delay"]
            text = f"{r['tickets']:,} tickets at {r['commits_per_second']:.0f} commits/s, {r['workers']} workers: " \
                   f"commit → SMTP p50 **{f['p50_ms']:.0f} ms**, p99 **{f['p99_ms']:.0f} ms**; draining a queue of " \
                   f"{r['tickets']:,}: **{r['acknowledgements_per_second']:.0f} acknowledgements/s**; " \
                   f"{r['duplicated']} duplicated"
        lines.append(f"| {r['case']} | {text} | {r['goal']} | {met} | {load} |")
    return "\n".join(lines) + "\n"


def failed(report: dict) -> bool:
    """Say whether any figure missed its goal."""
    return any(not r["meets_goal"] for r in report["results"])
