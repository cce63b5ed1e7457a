"""Live chat: message round trip at 1,000 and 5,000 connections, memory per connection, server kills.

Real processes on 127.0.0.1: ``python -m helpdesk.server`` (gevent; or, for
the async-mode comparison, ``python -m bench.chat_load serve MODE``), a
redis-server of the bench's own as the Socket.IO message queue, PostgreSQL
(schema ``bench_chat``, reset at every case) and one or two load processes
(``bench/chat_load.py``: asyncio, one bare WebSocket per client).

- ``rt1000`` / ``rt5000``: N visitors connect gradually (WebSocket only),
  each ``start``s a conversation (paced, not measured), then messages go out
  at a fixed rate, round-robin over the visitors, for ``--seconds``. Per
  message: **ack** = visitor emits ``message`` → its ack ``{id, created_at}``
  arrives (the message is committed by then); **delivery** = the same emit →
  the agent's client receives the ``message`` event (through Redis). Memory:
  VmRSS of the server processes before the visitors connect, with all of
  them connected and idle, and after the starts.
- ``restarts``: 1,000 messages from 50 visitors while the server is
  SIGKILLed and restarted on its port 5 times; every client_id must be
  stored exactly once.
- ``modes``: ``rt`` at a smaller scale under gevent and threading (and
  eventlet when installed).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from bench import machine, stack
from bench.tickets_list import database_url, server_version
from tests.support.servers import ROOT, RedisServer, free_port, wait_for_port

log = logging.getLogger("bench")

SCHEMA = "bench_chat"
AGENTS = 20
#: (case, visitors, messages/s, p50 goal ms, p99 goal ms)
ROUND_TRIPS = {"rt1000": (1_000, 500.0, 3.0, 50.0), "rt5000": (5_000, 250.0, None, 100.0)}
MODES_SCALE = (200, 30.0)
MEMORY_GOAL_KIB = 64.0
RESTART_MESSAGES, RESTART_VISITORS, RESTART_KILLS, RESTART_RATE = 1_000, 50, 5, 40.0


def rss_kib(pid: int) -> int:
    """Return a process's resident set size in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Desk:
    """The help desk's web process(es) and Redis on the bench schema, with AGENTS online agents."""

    def __init__(self, workdir: Path, servers: int = 1, mode: str = "gevent", agents: int = AGENTS):
        stack.reset_schema(SCHEMA)
        self.redis = RedisServer().start()
        self.env = stack.environment(SCHEMA, self.redis.url, str(workdir / "attachments"))
        self.workdir, self.mode = workdir, mode
        self.ports = [free_port() for _ in range(servers)]
        self.procs: list[stack.Process | None] = [None] * servers
        try:
            self.tokens = self._agents(agents)
            for n in range(servers):
                self.start(n)
        except BaseException:  # a server that never listened must not outlive the run
            self.stop()
            raise

    def _agents(self, count: int) -> list[str]:
        from helpdesk.extensions import db
        from helpdesk.models import Agent, ApiToken

        app = stack.make_app(self.env)
        secrets = []
        with app.app_context():
            for n in range(count):
                agent = Agent(email=f"agent{n}@helpdesk.test", name=f"Agent {n}", role="agent", password_hash="",
                              presence="online", max_chats=100_000)
                db.session.add(agent)
                token, secret = ApiToken.issue(agent, "bench")
                db.session.add(token)
                secrets.append(secret)
            db.session.commit()
            db.session.remove()
        return secrets

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def start(self, n: int) -> None:
        """Start server ``n`` on its port and wait until it listens."""
        port = self.ports[n]
        args = (["-m", "helpdesk.server", "--host", "127.0.0.1", "--port", str(port)] if self.mode == "gevent"
                else ["-m", "bench.chat_load", "serve", self.mode, str(port)])
        env = {**self.env, "HELPDESK_BASE_URL": f"http://127.0.0.1:{port}"}
        self.procs[n] = stack.Process(args, env, self.workdir / f"server-{n}.log").start()
        wait_for_port(port, timeout=60, process=self.procs[n].popen)

    def rss(self) -> int:
        """Return the summed VmRSS of the server processes, KiB."""
        return sum(rss_kib(p.popen.pid) for p in self.procs)

    def cpu_seconds(self) -> float:
        """Return the summed user + system CPU time of the server processes so far."""
        return sum(machine.proc_stat(f"/proc/{proc.popen.pid}/stat")[1] for proc in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc:
                proc.stop()
        self.redis.stop()


class Load:
    """One load process (``python -m bench.chat_load``), driven phase by phase over its stdin and stdout."""

    def __init__(self, spec: dict):
        self.popen = subprocess.Popen([sys.executable, "-m", "bench.chat_load", json.dumps(spec)], cwd=ROOT,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def read(self) -> dict:
        line = self.popen.stdout.readline()
        if not line:
            raise RuntimeError(f"load process exited with {self.popen.wait()}")
        return json.loads(line)

    def go(self) -> None:
        self.popen.stdin.write("go\n")
        self.popen.stdin.flush()

    def close(self) -> None:
        try:
            self.go()
            self.popen.wait(30)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.popen.kill()


def _phase(loads: list[Load]) -> list[dict]:
    return [load.read() for load in loads]


def round_trip(workdir: Path, case: str, visitors: int, rate: float, seconds: float, servers: int,
               loaders: int = 2, mode: str = "gevent") -> dict:
    """Measure ack and agent-delivery latency of ``rate`` messages/s over ``visitors`` started conversations."""
    desk = Desk(workdir, servers, mode)
    loads: list[Load] = []
    try:
        time.sleep(2)
        share = visitors // loaders
        specs = [{"kind": "round_trip", "urls": desk.urls, "visitors": share + (visitors % loaders if n == 0 else 0),
                  "first": n * share, "agent_tokens": desk.tokens[n::loaders], "connect_rate": 200.0 / loaders,
                  "start_rate": 80.0 / loaders, "rate": rate / loaders, "seconds": seconds, "tag": f"{case}{n}"}
                 for n in range(loaders)]
        load_before = stack.load_average()
        rss_0 = desk.rss()
        log.info("%s: %d visitors, %d agents, %d server(s) [%s, pid %s], RSS %d KiB; connecting ...",
                 case, visitors, len(desk.tokens), servers, mode, [p.popen.pid for p in desk.procs], rss_0)
        loads = [Load(spec) for spec in specs]
        connected = _phase(loads)
        time.sleep(3)
        rss_idle = desk.rss()
        log.info("%s: connected %s; RSS %d KiB; starting conversations ...", case,
                 [c["visitors"] for c in connected], rss_idle)
        for load in loads:
            load.go()
        started = _phase(loads)
        rss_started = desk.rss()
        stack.analyze(SCHEMA)
        log.info("%s: started %s (failed %s) in %ss; RSS %d KiB; sending %g messages/s for %gs (load %s) ...", case,
                 [s["started"] for s in started], [s["failed"] for s in started], [s["seconds"] for s in started],
                 rss_started, rate, seconds, stack.load_average())
        load_measure = stack.load_average()
        cpu, ticks = desk.cpu_seconds(), machine.cpu_ticks()
        for load in loads:
            load.go()
        results = _phase(loads)
        cpu, steal = desk.cpu_seconds() - cpu, machine.steal_percent(ticks, machine.cpu_ticks())
        load_after = stack.load_average()
    finally:
        for load in loads:
            load.close()
        desk.stop()
    n = sum(c["visitors"] for c in connected)
    acked = [x for r in results for x in r["acked"]]
    delivered = [x for r in results for x in r["delivered"]]
    result = {"case": case, "mode": mode, "servers": servers, "load_processes": loaders, "visitors": visitors,
              "connected": n, "refused": sum(c["refused"] for c in connected),
              "started": sum(s["started"] for s in started), "start_seconds": max(s["seconds"] for s in started),
              "rate_goal": rate, "rate": round(sum(r["rate"] for r in results), 1), "seconds": seconds,
              "sent": sum(r["sent"] for r in results), "errors": sum(r["errors"] for r in results),
              "error_samples": [e for r in results for e in r["error_samples"]][:5],
              "server_cpu_ms_per_message": round(1000 * cpu / max(1, len(acked)), 2), "steal_percent": steal,
              "ack": stack.stats(acked), "delivery": stack.stats(delivered),
              "rss_kib": {"before": rss_0, "idle": rss_idle, "started": rss_started},
              "per_connection_kib": round((rss_idle - rss_0) / n, 1) if n else None,
              "per_conversation_kib": round((rss_started - rss_0) / n, 1) if n else None,
              "load_before": load_before, "load_measure": load_measure, "load_after": load_after}
    goal = ROUND_TRIPS.get(case, (visitors, rate, None, None))
    result["goal"] = ", ".join(f"{k} ≤ {v:g} ms" for k, v in (("p50", goal[2]), ("p99", goal[3])) if v)
    result["meets_goal"] = bool(
        goal[3] and not result["errors"] and result["connected"] == visitors and result["ack"]["count"]
        and (goal[2] is None or result["ack"]["p50_ms"] <= goal[2]) and result["ack"]["p99_ms"] <= goal[3])
    result["memory_meets_goal"] = result["per_connection_kib"] is not None and \
        result["per_connection_kib"] <= MEMORY_GOAL_KIB
    log.info("%s: %s", case, {k: v for k, v in result.items() if k not in ("error_samples",)})
    return result


def _killer(desk: Desk, kills: list[float], stop: threading.Event) -> None:
    """SIGKILL the server at random moments and restart it on its port, RESTART_KILLS times."""
    import random

    for _ in range(RESTART_KILLS):
        if stop.wait(random.uniform(1.5, 3.5)):
            return
        desk.procs[0].kill()
        kills.append(time.time())
        desk.start(0)


def restarts(workdir: Path) -> dict:
    """Send RESTART_MESSAGES while the server dies RESTART_KILLS times; count lost and duplicated client_ids."""
    from helpdesk.extensions import db
    from helpdesk.models import Message

    desk = Desk(workdir, servers=1, agents=0)
    load = None
    kills: list[float] = []
    try:
        load = Load({"kind": "restarts", "urls": desk.urls, "visitors": RESTART_VISITORS,
                     "messages": RESTART_MESSAGES, "rate": RESTART_RATE})
        load.read()
        load_before = stack.load_average()
        log.info("restarts: %d messages from %d visitors at %g/s, server SIGKILLed %d times (load %s) ...",
                 RESTART_MESSAGES, RESTART_VISITORS, RESTART_RATE, RESTART_KILLS, load_before)
        stop = threading.Event()
        killer = threading.Thread(target=_killer, args=(desk, kills, stop), daemon=True)
        began = time.monotonic()
        load.go()
        killer.start()
        load.read()  # every message queued
        killer.join(60)
        stop.set()
        outcome = load.read()
        took = time.monotonic() - began
        load_after = stack.load_average()
    finally:
        if load:
            load.close()
        desk.stop()
    app = stack.make_app(desk.env)
    with app.app_context():
        rows = db.session.execute(select(Message.client_id, func.count(), func.min(Message.id))
                                  .where(Message.client_id.like("r%")).group_by(Message.client_id)).all()
        db.session.remove()
    stored = {cid: (count, first) for cid, count, first in rows}
    sent = {f"r{n % RESTART_VISITORS}-{n}" for n in range(RESTART_MESSAGES)}
    acked = outcome["acked"]
    result = {"case": "restarts", "messages": RESTART_MESSAGES, "visitors": RESTART_VISITORS,
              "kills": len(kills), "seconds": round(took, 1), "sends": outcome["sends"],
              "timeouts": outcome["timeouts"], "reconnects": outcome["reconnects"],
              "acked": len(acked), "unacked": outcome["unacked"],
              "lost": len(sent - stored.keys()), "duplicated": sum(c - 1 for c, _ in stored.values() if c > 1),
              "ack_id_mismatch": sum(1 for cid, i in acked.items() if stored.get(cid, (0, None))[1] != i),
              "load_before": load_before, "load_after": load_after, "goal": "0 lost, 0 duplicated"}
    result["meets_goal"] = (result["kills"] == RESTART_KILLS and not result["lost"] and not result["duplicated"]
                            and not result["ack_id_mismatch"] and not result["unacked"])
    log.info("restarts: %s", result)
    return result


def modes(workdir: Path, seconds: float) -> list[dict]:
    """Run the round trip at MODES_SCALE under each async mode available."""
    import importlib.util

    visitors, rate = MODES_SCALE
    found = ["gevent", "threading"] + (["eventlet"] if importlib.util.find_spec("eventlet") else [])
    return [round_trip(workdir, f"mode_{mode}", visitors, rate, seconds, servers=1, loaders=1, mode=mode)
            for mode in found]


def run(args) -> dict:
    """Run the chat figures selected by ``--cases`` (rt1000, rt5000, restarts, modes)."""
    cases = args.cases or ["rt1000", "rt5000", "restarts"]
    seconds = args.seconds or 30.0
    servers = args.servers or 1
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as workdir:
        log.info("server logs: %s (removed at the end)", workdir)
        for case in cases:
            if case in ROUND_TRIPS:
                visitors, rate, _, _ = ROUND_TRIPS[case]
                results.append(round_trip(Path(workdir), case, visitors, rate, seconds, servers))
            elif case == "restarts":
                results.append(restarts(Path(workdir)))
            elif case == "modes":
                results += modes(Path(workdir), min(seconds, 20.0))
    return {"name": "chat", "database": {"server": server_version(database_url())}, "results": results}


def markdown(report: dict) -> str:
    """Return the figures as Markdown rows for docs/benchmarks.md."""
    lines = ["| Figure | Result | Goal | Met | Load (1 min) |", "|---|---|---|---|---|"]
    for r in report["results"]:
        load = f"{r['load_before'][0]:.1f} → {r['load_after'][0]:.1f}"
        met = "yes" if r["meets_goal"] else "**no**"
        if r["case"] == "restarts":
            text = (f"{r['messages']:,} messages from {r['visitors']} visitors, server SIGKILLed {r['kills']}×: "
                    f"**{r['lost']} lost, {r['duplicated']} duplicated**, {r['ack_id_mismatch']} acks naming "
                    f"another id; {r['sends']:,} sends ({r['timeouts']} timed out), {r['reconnects']} reconnections, "
                    f"{r['seconds']:.0f} s")
        else:
            a, d = r["ack"], r["delivery"]
            text = (f"{r['connected']:,} connections on {r['servers']} {r['mode']} process(es), "
                    f"{r['rate_goal']:g} msg/s offered for {r['seconds']:g} s, {a.get('count', 0):,} of "
                    f"{r['sent']:,} acked: ack p50 **{a.get('p50_ms', 0):.1f}**, p99 **{a.get('p99_ms', 0):.1f}** "
                    f"ms (max {a.get('max_ms', 0):.0f}); to the agent p50 {d.get('p50_ms', 0):.1f}, p99 "
                    f"{d.get('p99_ms', 0):.1f} ms ({d.get('count', 0):,}/{r['sent']:,}); {r['errors']} errors; "
                    f"RSS +{r['per_connection_kib']:g} KiB/connection idle, +{r['per_conversation_kib']:g} KiB "
                    f"with a conversation; server CPU {r['server_cpu_ms_per_message']:g} ms/message; CPU steal "
                    f"{r['steal_percent']:g}%")
        lines.append(f"| {r['case']} | {text} | {r['goal'] or '(comparison)'} | "
                     f"{met if r['goal'] else '–'} | {load} |")
    return "\n".join(lines) + "\n"


def failed(report: dict) -> bool:
    """Say whether any figure with a goal missed it."""
    return any(r["goal"] and not r["meets_goal"] for r in report["results"])
