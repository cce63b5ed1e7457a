"""The ticket list at scale: GET /api/v1/tickets and the console's /console/tickets.

For each size the data set lives in its own PostgreSQL schema (``bench_<n>``)
of one database, so both sizes stay loaded and a re-run skips the load. The
real app answers through ``app.test_client()`` in this process: the time
measured is the server's work (routing, auth, queries, JSON or template
rendering) without network noise. No app context is held while measuring, so
every request gets a fresh SQLAlchemy session as it would in production.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time

import psycopg
from psycopg import sql
from sqlalchemy import event, make_url, text

from bench import dataset
from bench.machine import percentiles, sample
from config import Config
from helpdesk import create_app
from helpdesk.extensions import db
from tests.support.servers import RedisServer

log = logging.getLogger("bench")

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/helpdesk_bench"
P95_GOAL_MS = 25.0
#: The largest size's p95 may be at most this multiple of the smallest's.
RATIO_GOAL = 1.25
DEEP_PAGES = 200
#: Each case is measured in this many rounds, alternating the sizes.
ROUNDS = 10
PASSWORD = "bench-password-1"

API_CASES = [
    ("API newest", "/api/v1/tickets"),
    ("API status=open", "/api/v1/tickets?status=open"),
    ("API assignee=me", "/api/v1/tickets?assignee=me"),
    (f"API page {DEEP_PAGES + 1} (cursor)", None),  # the path is found by following next_cursor
]
CONSOLE_CASES = [
    ("Console All open (default)", "/console/tickets"),
    ("Console My open", "/console/tickets?view=mine"),
    ("Console Unassigned", "/console/tickets?view=unassigned"),
    ("Console channel Chat", "/console/tickets?view=channel:chat"),
    ("Console All open, updated", "/console/tickets?view=open&sort=updated"),
]
#: Measured and reported, but outside the goal (search has its own budget).
EXTRA_CASES = [("API search q=refund", "/api/v1/tickets?q=refund")]


def database_url() -> str:
    """Return the PostgreSQL URL the benchmark uses."""
    return os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL


def _conninfo(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def prepare_database(url: str, schema: str) -> None:
    """Create the benchmark database (if missing) and ``schema`` in it."""
    name = make_url(url).database
    with psycopg.connect(_conninfo(url, "postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def server_version(url: str) -> str:
    """Return the PostgreSQL server's version string."""
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def make_config(url: str, schema: str, redis_url: str, attachments: str) -> Config:
    """Return a production-like configuration on ``schema`` (CSRF off so the bench can sign in)."""
    config = Config.from_env({
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-for-hmac",
        "HELPDESK_ATTACHMENT_DIR": attachments,
    })
    config.SQLALCHEMY_ENGINE_OPTIONS = {
        **config.SQLALCHEMY_ENGINE_OPTIONS,
        "connect_args": {**config.SQLALCHEMY_ENGINE_OPTIONS.get("connect_args", {}),
                         "options": f"-csearch_path={schema}"},
    }
    config.WTF_CSRF_ENABLED = False
    config.SOCKETIO_ASYNC_MODE = "threading"
    return config


def _setup(app, size: int) -> tuple[str, str, float | None]:
    """Migrate, load the data set unless it is there, set the bench agent's password; return a token."""
    from flask_migrate import upgrade

    from helpdesk.accounts import save_agent
    from helpdesk.models import Agent, ApiToken

    with app.app_context():
        upgrade()
        log.disabled = False  # Alembic's fileConfig() disables the loggers that existed before it
        load_seconds = None
        if dataset.is_loaded(db.engine, size):
            log.info("%d tickets already loaded: reusing them", size)
        else:
            log.info("loading %d tickets ...", size)
            load_seconds = dataset.load(db.engine, size)
            log.info("loaded %d tickets in %.1fs", size, load_seconds)
        agent = db.session.get(Agent, 1)  # agent 1 works in Support, so Security's tickets are hidden from them
        save_agent(email=agent.email, name=agent.name, password=PASSWORD, agent=agent)
        db.session.execute(text("DELETE FROM api_token WHERE name = 'bench'"))
        token, secret = ApiToken.issue(agent, "bench")
        db.session.add(token)
        db.session.commit()
        session_id = agent.get_id()
        db.session.remove()
    return secret, session_id, load_seconds


def _get(client, path: str, headers: dict | None = None):
    def call():
        response = client.get(path, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
        return response

    return call


def _deep_path(client, headers: dict) -> str:
    path = "/api/v1/tickets"
    for _ in range(DEEP_PAGES):
        cursor = client.get(path, headers=headers).get_json()["next_cursor"]
        if cursor is None:
            break
        path = f"/api/v1/tickets?cursor={cursor}"
    return path


def _explain(app, call) -> None:
    """Print EXPLAIN (ANALYZE, BUFFERS) of every ticket query one request runs."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "ticket" in statement:
            statements.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    with engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars().all()
            print("\n" + statement + "\n" + repr(parameters) + "\n  " + "\n  ".join(plan))


def _cases(client, console, headers) -> list[tuple[str, str, object, bool]]:
    cases = []
    for name, path in API_CASES:
        path = path or _deep_path(client, headers)
        cases.append((name, path, _get(client, path, headers), True))
    if console is not None:
        cases += [(name, path, _get(console, path), True) for name, path in CONSOLE_CASES]
    cases += [(name, path, _get(client, path, headers), False) for name, path in EXTRA_CASES]
    return cases


def _console_client(app, session_id: str):
    """Return a test client signed in to the console, or None while the console has no ticket list.

    The session is written the way Flask-Login's ``login_user`` writes it, so
    the benchmark does not depend on the sign-in form.
    """
    from flask_login.utils import _create_identifier

    if "console.tickets" not in app.view_functions:
        log.warning("/console/tickets does not exist yet: console cases skipped")
        return None
    client = app.test_client()
    with app.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()  # "strong" session protection ties the session to it
    with client.session_transaction() as session:
        session.update({"_user_id": session_id, "_fresh": True, "_id": identifier})
    status = client.get(CONSOLE_CASES[0][1]).status_code
    if status != 200:
        log.warning("/console/tickets answered %d: console cases skipped", status)
        return None
    return client


class Desk:
    """One size's app, signed-in clients and cases, ready to measure."""

    def __init__(self, url: str, size: int, redis_url: str, attachments: str):
        schema = f"bench_{size}"
        prepare_database(url, schema)
        self.size = size
        self.app = create_app(make_config(url, schema, redis_url, attachments))
        logging.getLogger("helpdesk").setLevel(logging.WARNING)
        secret, session_id, self.load_seconds = _setup(self.app, size)
        headers = {"Authorization": f"Bearer {secret}"}
        client = self.app.test_client()
        self.cases = {name: (path, call, in_goal)
                      for name, path, call, in_goal in _cases(client, _console_client(self.app, session_id), headers)}

    def close(self) -> None:
        """Close the database connections."""
        with self.app.app_context():
            db.engine.dispose()


def _measure_case(desks: list[Desk], name: str, args) -> list[dict]:
    """Measure one case on every size, alternating sizes in rounds so background load hits them alike."""
    ready = [d for d in desks if name in d.cases]
    for desk in ready:
        path, call, _ = desk.cases[name]
        if args.explain:
            print(f"\n=== {name} at {desk.size} tickets: {path}")
            _explain(desk.app, call)
        sample(call, args.warmup, time.monotonic() + args.budget)
    samples: dict[int, list[float]] = {d.size: [] for d in ready}
    per_round = max(1, -(-args.requests // ROUNDS))
    deadline = time.monotonic() + args.budget * len(ready)
    for round_ in range(ROUNDS):
        for desk in ready if round_ % 2 == 0 else reversed(ready):
            samples[desk.size] += sample(desk.cases[name][1], per_round, deadline)
    results = []
    for desk in ready:
        path, _, in_goal = desk.cases[name]
        stats = percentiles(samples[desk.size][: args.requests])
        log.info("%-32s %8d  p50 %6.2f  p95 %6.2f  p99 %6.2f ms", name, desk.size, stats["p50_ms"],
                 stats["p95_ms"], stats["p99_ms"])
        results.append({"case": name, "path": path, "size": desk.size, "in_goal": in_goal,
                        "load_seconds": desk.load_seconds, **stats})
    return results


def run(args) -> dict:
    """Run the ticket list benchmark for every size in ``args.sizes``."""
    url = database_url()
    redis = RedisServer().start()
    desks: list[Desk] = []
    try:
        with tempfile.TemporaryDirectory() as attachments:
            for size in args.sizes:
                desks.append(Desk(url, size, redis.url, attachments))
            names = list(dict.fromkeys(name for desk in desks for name in desk.cases))
            results = [row for name in names for row in _measure_case(desks, name, args)]
    finally:
        for desk in desks:
            desk.close()
        redis.stop()
    return {
        "name": "tickets_list",
        "database": {"url": make_url(url).render_as_string(hide_password=True), "server": server_version(url)},
        "goals": {"p95_ms": P95_GOAL_MS, "ratio": RATIO_GOAL},
        "results": results,
    }
