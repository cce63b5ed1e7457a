"""The command line of CONTRACT §3, run as real processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.servers import ROOT


@pytest.fixture
def flask_cli(migrated):
    """Return a function that runs `flask --app wsgi ARGS` against the test database."""

    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, capture_output=True, text=True,
            env={**os.environ, **migrated, **(env or {})}, timeout=60,
        )

    return run


def test_agents_tokens_and_revocation(app, client, flask_cli):
    created = flask_cli("agents", "create", "--email", "Cli@Example.com", "--name", "Cli", "--password",
                        "long enough password", "--admin")
    assert created.returncode == 0, created.stderr
    token = flask_cli("tokens", "create", "--email", "cli@example.com")
    assert token.returncode == 0 and token.stdout.strip().startswith("hd_")
    secret = token.stdout.strip()
    assert len(token.stdout.strip().splitlines()) == 1  # only the token
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/tickets", headers=headers).status_code == 200
    listed = flask_cli("tokens", "list", "--email", "cli@example.com")
    assert secret[:10] in listed.stdout and "active" in listed.stdout
    assert flask_cli("tokens", "revoke", "--prefix", secret[:10]).returncode == 0
    assert client.get("/api/v1/tickets", headers=headers).status_code == 401


def test_failures_exit_non_zero_with_one_line(flask_cli):
    short = flask_cli("agents", "create", "--email", "x@example.com", "--name", "X", "--password", "short")
    assert short.returncode != 0 and "password" in short.stderr
    unknown = flask_cli("tokens", "create", "--email", "nobody@example.com")
    assert unknown.returncode != 0 and unknown.stderr.strip() == "error: no agent nobody@example.com"
    no_imap = flask_cli("mail", "fetch", env={"IMAP_HOST": ""})
    assert no_imap.returncode != 0 and "IMAP_HOST" in no_imap.stderr


def test_invalid_setting_stops_start_up_naming_the_variable(flask_cli):
    bad = flask_cli("agents", "create", "--email", "a@example.com", "--name", "A", "--password", "long password 1",
                    env={"HELPDESK_BUSINESS_HOURS": "Mon 9-5"})
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1].startswith("configuration error: HELPDESK_BUSINESS_HOURS=")
    zone = flask_cli("demo", "seed", env={"HELPDESK_TIMEZONE": "Mars/Olympus"})
    assert zone.returncode != 0 and "HELPDESK_TIMEZONE" in zone.stderr


UPGRADE_IN_PROCESS = """
from flask_migrate import upgrade
from helpdesk import create_app
from helpdesk.channels.email import imap

app = create_app()
with app.app_context():
    upgrade()  # as the launcher does before it serves
imap.log.warning("still heard after the upgrade")
"""


def test_an_upgrade_in_process_leaves_the_apps_loggers_on(migrated):
    """Alembic's logging set-up used to disable every logger that existed before it ran (the launcher's, the tests')."""
    done = subprocess.run([sys.executable, "-c", UPGRADE_IN_PROCESS], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **migrated}, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "still heard after the upgrade" in done.stderr  # in alembic's format: its set-up owns the root handler
