"""Fixtures: a real Redis per session, a migrated database, a fresh app and empty tables per test."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from config import Config
from helpdesk import create_app
from helpdesk.extensions import db
from tests.support.servers import RedisServer, free_port

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPORA = SHARED / "corpora"


def pytest_unconfigure(config) -> None:
    """Silence logging once the run is over.

    The apps under test leave daemon threads behind (the presence heartbeat,
    the Socket.IO message queue's listener) that keep retrying the session's
    Redis after it has stopped, and say so in the log. After the run their
    warnings would only be written, half-way through the interpreter's exit,
    into streams pytest has closed ("--- Logging error ---").
    """
    logging.disable(logging.CRITICAL)


def _database_url(tmp_root: Path) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgresql", "postgres:")):
        return url
    return f"sqlite:///{tmp_root / 'test.db'}"


@pytest.fixture(scope="session")
def redis_server():
    """Start a redis-server of our own for the whole run."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_env(tmp_path_factory, redis_server) -> dict[str, str]:
    """Return the environment every test app (and server process) is built from."""
    root = tmp_path_factory.mktemp("helpdesk")
    return {
        "DATABASE_URL": _database_url(root),
        "REDIS_URL": redis_server.url,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-hmac",
        "HELPDESK_BASE_URL": "http://127.0.0.1:5000",
        "SUPPORT_ADDRESS": "support@helpdesk.test",
        "HELPDESK_ATTACHMENT_DIR": str(root / "attachments"),
    }


def make_config(env: dict[str, str], **overrides) -> Config:
    """Return a test configuration for ``env`` with ``overrides`` applied."""
    config = Config.from_env(env)
    config.TESTING = True
    config.WTF_CSRF_ENABLED = False
    config.SOCKETIO_ASYNC_MODE = "threading"
    config.ATTACHMENT_DIR = env["HELPDESK_ATTACHMENT_DIR"]
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture(scope="session")
def migrated(base_env):
    """Drop whatever the test database holds and apply every migration once."""
    from flask_migrate import upgrade

    app = create_app(make_config(base_env))
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        db.engine.dispose()
    return base_env


def _empty_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)] + ["search_index", "kb_search"]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()


@pytest.fixture
def config_overrides() -> dict:
    """Override in a test module to change the app's configuration."""
    return {}


@pytest.fixture
def app(migrated, redis_server, config_overrides):
    """Return a fresh app on empty tables and an empty Redis."""
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    app = create_app(make_config(migrated, **config_overrides))
    with app.app_context():
        _empty_tables()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """Return a test client."""
    return app.test_client()


@pytest.fixture
def make_agent(app):
    """Return a factory: make_agent(email=..., name=..., admin=False, password=...)."""
    from helpdesk.accounts import save_agent

    counter = iter(range(1, 10_000))

    def factory(email: str | None = None, name: str | None = None, admin: bool = False,
                password: str = "correct horse battery", teams=()):
        n = next(counter)
        agent = save_agent(
            email=email or f"agent{n}@helpdesk.test",
            name=name or f"Agent {n}",
            password=password,
            role="admin" if admin else "agent",
        )
        agent.teams = list(teams)
        db.session.commit()
        return agent

    return factory


@pytest.fixture
def agent(make_agent):
    """Return a plain agent."""
    return make_agent(email="alice@helpdesk.test", name="Alice Agent")


@pytest.fixture
def admin(make_agent):
    """Return an admin."""
    return make_agent(email="root@helpdesk.test", name="Ada Admin", admin=True)


@pytest.fixture
def make_token(app):
    """Return a factory: make_token(agent) -> bearer secret."""
    from helpdesk.models import ApiToken

    def factory(agent) -> str:
        token, secret = ApiToken.issue(agent, "test")
        db.session.add(token)
        db.session.commit()
        return secret

    return factory


@pytest.fixture
def api(client, agent, make_token):
    """Return a small client for /api/v1 authenticated as ``agent``."""
    headers = {"Authorization": f"Bearer {make_token(agent)}"}

    class Api:
        def get(self, path, **kw):
            return client.get(f"/api/v1{path}", headers=headers, **kw)

        def post(self, path, json=None, **kw):
            return client.post(f"/api/v1{path}", json=json, headers=headers, **kw)

        def patch(self, path, json=None, **kw):
            return client.patch(f"/api/v1{path}", json=json, headers=headers, **kw)

    return Api()


@pytest.fixture
def make_ticket(app):
    """Return a factory that receives a customer's message through the ticket service."""
    from helpdesk import tickets

    counter = iter(range(1, 100_000))

    def factory(subject: str = "Help", body: str = "It does not work.", email: str | None = None,
                channel: str = "email", **inbound):
        n = next(counter)
        received = tickets.receive(
            tickets.Inbound(
                channel=channel,
                contact=tickets.Contact(email=email or f"customer{n}@example.com", name=inbound.pop("name", None)),
                subject=subject,
                body_text=body,
                **inbound,
            )
        )
        db.session.commit()
        return received.ticket

    return factory


@pytest.fixture
def live_server(app):
    """Serve ``app`` over real HTTP on a free port in a thread; yield its URL."""
    port = free_port()
    app.config["BASE_URL"] = f"http://127.0.0.1:{port}"
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def corpus(*parts: str) -> Path:
    """Return a path under ../shared/corpora, skipping the test when it is absent."""
    path = CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (CI always has ../shared/corpora)")
    return path


@pytest.fixture(scope="session")
def smtp_server():
    """Start a real SMTP server (aiosmtpd) for the whole run."""
    from tests.support.smtp import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server, app):
    """Return the SMTP server emptied and accepting mail; jobs run in ``app``, on a fresh SMTP connection.

    Point the app at it with ``config_overrides`` returning SMTP_HOST/SMTP_PORT of ``smtp_server``.
    """
    from helpdesk.channels.email import smtp as smtp_client
    from workers.app import set_app

    smtp_server.messages.clear()
    smtp_server.recipients.clear()
    smtp_server.fail_with = None
    set_app(app)
    smtp_client.close()
    yield smtp_server
    smtp_client.close()


@pytest.fixture
def browser():
    """Launch Debian's chromium through Playwright (skip, naming the package, when it is missing)."""
    import shutil

    from tests.support.browser import ARGS

    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian package chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        yield browser
        browser.close()
