"""Email intake: throughput of one ``mail fetch`` pass, IDLE-to-console latency, and SIGKILLed watchers.

Three figures, each on its own PostgreSQL schema of the bench database
(``bench_intake``, ``bench_intake_live``, ``bench_intake_crash``, reset at
every run), a throwaway Dovecot (IDLE driven by inotify, as installed) and a
throwaway redis-server:

- ``throughput``: 10,000 typical messages written into the Maildir, then
  ``imap.fetch_once()`` in this process, timed from start to the last commit;
- ``latency``: ``python -m helpdesk.server`` and ``mail watch`` as processes, a
  Socket.IO client on /agent, 200 APPENDs 300 ms apart, APPEND done -> the
  ``ticket`` "created" event; plus our share, timed in-process as the watcher's
  ``sync()`` after IDLE woke (fetch, import, commit, move) of one new message;
- ``crash``: 1,000 APPENDs while ``mail watch`` is SIGKILLed at random at
  least 20 times, with ``python -m workers`` sending acknowledgements to an
  aiosmtpd server; counts lost and duplicated tickets and acknowledgements.
"""

from __future__ import annotations

import logging
import random
import re
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from sqlalchemy import func, select

from bench import machine, stack
from bench.tickets_list import database_url, server_version
from helpdesk.runtime import tune_gc
from tests.support.servers import HelpdeskServer, RedisServer

log = logging.getLogger("bench")

MESSAGES = 10_000
THROUGHPUT_GOAL = 400.0  #: messages per second
LATENCY_PROBES = 200
LATENCY_GAP = 0.3
P50_GOAL_MS, P99_GOAL_MS, SHARE_GOAL_MS = 600.0, 1000.0, 50.0
CRASH_MESSAGES, CRASH_KILLS = 1_000, 20

_WORDS = ("invoice order refund account password login delivery parcel broken screen charge twice please "
          "urgent thanks again tried yesterday support team subscription renewal export report error").split()
_FIRST = ["Ada", "Bob", "Chloé", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena"]


def _paragraphs(rng: random.Random, size: int) -> list[str]:
    words, out, length = [], [], 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
        if len(words) > 14 and rng.random() < 0.1:
            out.append(" ".join(words).capitalize() + ".")
            words = []
    out.append(" ".join(words).capitalize() + ".")
    return out


def typical_message(n: int, rng: random.Random, earlier: list[tuple[str, str, str]], sender: str | None = None,
                    subject: str | None = None) -> tuple[bytes, tuple[str, str, str]]:
    """Return a ~5 KB multipart/alternative message (10% with a small PDF, 20% replies); and (id, from, subject)."""
    reply = earlier and rng.random() < 0.2
    if reply:
        parent_id, sender, parent_subject = rng.choice(earlier)
        subject = "Re: " + parent_subject.removeprefix("Re: ")
    sender = sender or f"customer{rng.randrange(2000)}@example{rng.randrange(20)}.com"
    subject = subject or f"{' '.join(rng.sample(_WORDS, 4)).capitalize()} #{n}"
    message = EmailMessage()
    message["From"] = f"{rng.choice(_FIRST)} <{sender}>"
    message["To"] = stack.SUPPORT_ADDRESS
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message_id = make_msgid(f"b{n}", "mail.example.com")
    message["Message-ID"] = message_id
    if reply:
        message["In-Reply-To"] = parent_id
        message["References"] = parent_id
    paragraphs = _paragraphs(rng, 1700)
    text = "Hello,\n\n" + "\n\n".join(paragraphs) + "\n\nBest regards\n"
    html = "<html><body><p>Hello,</p>" + "".join(f"<p>{p}</p>" for p in paragraphs) + \
        "<p>Best regards</p></body></html>"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if rng.random() < 0.1:
        message.add_attachment(rng.randbytes(1500), maintype="application", subtype="pdf",
                               filename=f"invoice-{n}.pdf")
    return message.as_bytes(), (message_id, sender, subject)


def mailbag(count: int, seed: int = 7) -> list[bytes]:
    """Return ``count`` typical messages."""
    rng = random.Random(seed)
    earlier: list[tuple[str, str, str]] = []
    out = []
    for n in range(count):
        raw, head = typical_message(n, rng, earlier)
        out.append(raw)
        if not head[2].startswith("Re: "):
            earlier.append(head)
    return out


def _ticket_counts(app) -> tuple[int, int]:
    from helpdesk.extensions import db
    from helpdesk.models import Message, Ticket

    with app.app_context():
        try:
            return db.session.scalar(select(func.count(Ticket.id))), db.session.scalar(select(func.count(Message.id)))
        finally:
            db.session.remove()


def throughput(redis_url: str, attachments: str, count: int, profile: bool) -> dict:
    """Time one ``fetch_once()`` pass over ``count`` messages delivered into the Maildir."""
    from helpdesk.channels.email import imap

    stack.reset_schema("bench_intake")
    dovecot = stack.Dovecot().start()
    try:
        log.info("intake: writing %d messages into the Maildir ...", count)
        bag = mailbag(count)
        dovecot.deliver(bag)
        env = stack.environment("bench_intake", redis_url, attachments, **stack.imap_environment(dovecot))
        app = stack.make_app(env)
        load, speed = stack.load_average(), machine.calibrate()
        log.info("intake: fetching (load %s, calibration loop %.0f ms) ...", load, speed)
        with app.app_context():
            tune_gc()  # as ``mail fetch`` and ``mail watch`` do
            cpu, ticks = machine.CpuAccount().start(), machine.cpu_ticks()
            started = time.perf_counter()
            if profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                counts = profiler.runcall(imap.fetch_once)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
            else:
                counts = imap.fetch_once()
            seconds = time.perf_counter() - started
            spent, steal = cpu.stop(), machine.steal_percent(ticks, machine.cpu_ticks())
        tickets, messages = _ticket_counts(app)
        rate = count / seconds
        log.info("intake: %s in %.1fs: %.0f messages/s; %d tickets, %d messages", counts, seconds, rate,
                 tickets, messages)
        cpu_ms = {kind: round(s * 1000 / count, 3) for kind, s in spent.items()}
        speed_after = machine.calibrate()
        log.info("intake: CPU ms per message: %s; calibration loop %.0f ms after; steal %.1f%%", cpu_ms, speed_after,
                 steal)
        return {"case": "throughput", "messages": count, "average_bytes": round(sum(map(len, bag)) / count),
                "seconds": round(seconds, 2), "messages_per_second": round(rate, 1), "counts": counts,
                "tickets": tickets, "stored_messages": messages, "cpu_ms_per_message": cpu_ms,
                "calibration_ms": [speed, speed_after], "steal_percent": steal, "load_before": load,
                "load_after": stack.load_average(), "goal": f">= {THROUGHPUT_GOAL:g} messages/s",
                "meets_goal": rate >= THROUGHPUT_GOAL and messages == count}
    finally:
        dovecot.stop()


def _agent_token(app) -> str:
    from helpdesk.accounts import save_agent
    from helpdesk.extensions import db
    from helpdesk.models import ApiToken

    with app.app_context():
        agent = save_agent(email="bench@helpdesk.test", name="Bench Agent", password="bench-password-1",
                           role="admin")
        token, secret = ApiToken.issue(agent, "bench")
        db.session.add(token)
        db.session.commit()
        db.session.remove()
    return secret


def _our_share(app, dovecot: stack.Dovecot, probes: int) -> tuple[list[float], dict]:
    """Time ``imap.sync()`` (what the watcher runs when IDLE wakes) over one newly appended message each.

    The process is set up as ``mail watch`` sets up its own (``tune_gc``).
    Also returns the garbage collections that ran during the timed syncs.
    """
    from helpdesk.channels.email import imap
    from helpdesk.extensions import db

    rng = random.Random(11)
    samples = []
    pauses = machine.GcPauses()
    with app.app_context():
        tune_gc()
        client = imap.connect()
        appender = dovecot.client()
        try:
            imap.sync(client)
            for n in range(probes):
                raw, _ = typical_message(100_000 + n, rng, [], subject=f"Share probe {n}")
                appender.append("INBOX", raw)
                started = time.perf_counter()
                with pauses:
                    imap.sync(client)
                samples.append(time.perf_counter() - started)
        finally:
            client.logout()
            appender.logout()
            db.session.remove()
    return samples, pauses.summary()


def latency(redis_url: str, attachments: str, probes: int, workdir: Path) -> dict:
    """Measure APPEND completed -> ``ticket`` "created" event at a connected console, and our share of it."""
    import socketio

    stack.reset_schema("bench_intake_live")
    dovecot = stack.Dovecot().start()
    env = stack.environment("bench_intake_live", redis_url, attachments, **stack.imap_environment(dovecot))
    app = stack.make_app(env)
    token = _agent_token(app)
    server = HelpdeskServer(env).start()
    watch = stack.watcher(env, workdir / "watch-live.log").start()
    seen: dict[str, float] = {}
    client = socketio.Client(reconnection=True)

    @client.on("ticket", namespace="/agent")
    def on_ticket(data):
        if data.get("change") == "created":
            seen[data["ticket"]["subject"]] = time.time()

    try:
        client.connect(server.url, namespaces=["/agent"], auth={"token": token}, transports=["websocket"],
                       wait_timeout=20)
        time.sleep(3)  # the watcher's first sync and IDLE
        rng = random.Random(3)
        appended: dict[str, float] = {}
        load = stack.load_average()
        log.info("latency: %d APPENDs %.0f ms apart (load %s) ...", probes, LATENCY_GAP * 1000, load)
        with dovecot.client() as imap_client:
            for n in range(probes):
                subject = f"Latency probe {n}"
                raw, _ = typical_message(50_000 + n, rng, [], subject=subject)
                imap_client.append("INBOX", raw)
                appended[subject] = time.time()
                time.sleep(LATENCY_GAP)
        stack.wait_until(lambda: len(seen) >= probes, timeout=30)
        delays = [seen[s] - t for s, t in appended.items() if s in seen]
        missing = probes - len(delays)
    finally:
        client.disconnect()
        watch.stop()
        server.stop()
    log.info("latency: our share, %d in-process syncs ...", 50)
    share, share_gc = _our_share(app, dovecot, 50)
    dovecot.stop()
    end_to_end, ours = stack.stats(delays), stack.stats(share)
    log.info("latency: APPEND -> console %s; our share %s (collections meanwhile: %s)", end_to_end, ours, share_gc)
    return {"case": "latency", "probes": probes, "missing_events": missing, "end_to_end": end_to_end,
            "our_share": ours, "our_share_gc": share_gc, "load_before": load, "load_after": stack.load_average(),
            "goal": f"p50 <= {P50_GOAL_MS:g} ms, p99 <= {P99_GOAL_MS:g} ms, our share < {SHARE_GOAL_MS:g} ms",
            "meets_goal": (not missing and end_to_end["p50_ms"] <= P50_GOAL_MS
                           and end_to_end["p99_ms"] <= P99_GOAL_MS and ours["p99_ms"] < SHARE_GOAL_MS)}


def _killer(state: dict, env: dict, redis_url: str, workdir: Path, done: threading.Event) -> None:
    """SIGKILL the watcher after a random 0.3-3 s of life, release its lock and restart it, until told."""
    rng = random.Random(5)
    while not done.is_set() or state["kills"] < CRASH_KILLS:
        time.sleep(rng.uniform(0.3, 3.0))
        state["watch"].kill()
        state["kills"] += 1
        stack.release_mailbox_locks(redis_url)  # a killed watcher's lock would block the next one for 60 s
        state["watch"] = stack.watcher(env, workdir / "watch-crash.log").start()


def crash(redis_url: str, attachments: str, count: int, workdir: Path) -> dict:
    """Append ``count`` messages while SIGKILLing the watcher; count lost and duplicated tickets and acks."""
    from helpdesk.extensions import db
    from helpdesk.models import Message, Ticket

    stack.reset_schema("bench_intake_crash")
    dovecot = stack.Dovecot().start()
    smtp = stack.SmtpSink().start()
    env = stack.environment("bench_intake_crash", redis_url, attachments, SMTP_HOST="127.0.0.1",
                            SMTP_PORT=smtp.port, **stack.imap_environment(dovecot))
    app = stack.make_app(env)
    worker = stack.workers(env, workdir / "workers-crash.log").start()
    state = {"watch": stack.watcher(env, workdir / "watch-crash.log").start(), "kills": 0}
    done = threading.Event()
    killer = threading.Thread(target=_killer, args=(state, env, redis_url, workdir, done), daemon=True)
    rng = random.Random(9)
    sent_ids = []
    load = stack.load_average()
    log.info("crash: %d APPENDs, the watcher SIGKILLed at random (load %s) ...", count, load)
    try:
        killer.start()
        with dovecot.client() as imap_client:
            for n in range(count):
                # One sender per message: the hourly auto-mail budget would otherwise skip acknowledgements.
                raw, head = typical_message(n, rng, [], sender=f"crash{n}@example.com", subject=f"Crash order {n}")
                imap_client.append("INBOX", raw)
                sent_ids.append(head[0].strip("<>"))
                time.sleep(rng.uniform(0, 0.08))
        done.set()
        killer.join(120)
        log.info("crash: %d kills; waiting for the last tickets and acknowledgements ...", state["kills"])
        stack.wait_until(lambda: _ticket_counts(app)[0] >= count and smtp.count() >= count, timeout=240, every=1)
        time.sleep(5)  # let a late duplicate show itself
    finally:
        done.set()
        state["watch"].stop()
        worker.stop()
        smtp.stop()
        dovecot.stop()
    with app.app_context():
        stored = Counter(db.session.scalars(select(Message.external_id).where(Message.author_type == "customer")))
        tickets = db.session.scalar(select(func.count(Ticket.id)))
        references = {t.reference for t in db.session.scalars(select(Ticket))}
        db.session.remove()
    acks = Counter()
    for _, headers in smtp.headers():
        found = re.search(r"\[([A-Z]+-\d+)\]", headers.get("Subject", ""))
        acks[found[1] if found else "?"] += 1
    lost = sum(1 for m in sent_ids if m not in stored)
    duplicate_tickets = tickets - len(set(sent_ids) & set(stored))
    duplicate_acks = sum(n - 1 for n in acks.values() if n > 1)
    missing_acks = len(references - set(acks))
    result = {"case": "crash", "messages": count, "kills": state["kills"], "tickets": tickets,
              "lost_tickets": lost, "duplicate_tickets": duplicate_tickets,
              "duplicate_messages": sum(n - 1 for n in stored.values() if n > 1),
              "acknowledgements": sum(acks.values()), "duplicate_acknowledgements": duplicate_acks,
              "missing_acknowledgements": missing_acks, "load_before": load, "load_after": stack.load_average(),
              "goal": "0 lost, 0 duplicate tickets, 0 duplicate acknowledgements"}
    result["meets_goal"] = not (lost or duplicate_tickets or duplicate_acks) and state["kills"] >= CRASH_KILLS
    log.info("crash: %s", result)
    return result


def run(args) -> dict:
    """Run the email intake figures selected by ``--cases``."""
    cases = args.cases or ["throughput", "latency", "crash"]
    redis = RedisServer().start()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as workdir:
        attachments = str(Path(workdir) / "attachments")
        log.info("logs of the subprocesses: %s (removed at the end)", workdir)
        try:
            if "throughput" in cases:
                results.append(throughput(redis.url, attachments, args.messages or MESSAGES, args.profile))
            if "latency" in cases:
                results.append(latency(redis.url, attachments, LATENCY_PROBES, Path(workdir)))
            if "crash" in cases:
                results.append(crash(redis.url, attachments, CRASH_MESSAGES, Path(workdir)))
        finally:
            redis.stop()
    return {"name": "email_intake", "database": {"server": server_version(database_url())}, "results": results}


def markdown(report: dict) -> str:
    """Return the figures as Markdown rows for docs/benchmarks.md."""
    lines = ["| Figure | Result | Goal | Met | Load (1 min) |", "|---|---|---|---|---|"]
    for r in report["results"]:
        load = f"{r['load_before'][0]:.1f} → {r['load_after'][0]:.1f}"
        met = "yes" if r["meets_goal"] else "**no**"
        if r["case"] == "throughput":
            text = f"{r['messages']:,} messages ({r['average_bytes']:,} B avg) in {r['seconds']} s: " \
                   f"**{r['messages_per_second']:.0f} messages/s** (CPU steal {r['steal_percent']:g}%)"
        elif r["case"] == "latency":
            e, o = r["end_to_end"], r["our_share"]
            text = f"APPEND → console p50 **{e['p50_ms']:.0f} ms**, p99 **{e['p99_ms']:.0f} ms** " \
                   f"(max {e['max_ms']:.0f}, {r['missing_events']} missing); our share p50 {o['p50_ms']:.0f} ms, " \
                   f"p99 {o['p99_ms']:.0f} ms"
        else:
            text = f"{r['messages']:,} messages, {r['kills']} kills: {r['lost_tickets']} lost, " \
                   f"{r['duplicate_tickets']} duplicate tickets, {r['acknowledgements']} acknowledgements, " \
                   f"{r['duplicate_acknowledgements']} duplicated, {r['missing_acknowledgements']} missing"
        lines.append(f"| {r['case']} | {text} | {r['goal']} | {met} | {load} |")
    return "\n".join(lines) + "\n"


def failed(report: dict) -> bool:
    """Say whether any figure missed its goal."""
    return any(not r["meets_goal"] for r in report["results"])
