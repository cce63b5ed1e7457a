"""``flask --app wsgi mail fetch`` and ``mail watch``."""

from __future__ import annotations

import signal
import sys

import click
from flask import current_app
from flask.cli import AppGroup

mail_cli = AppGroup("mail", help="The support mailbox (IMAP).")


def _require_imap() -> None:
    missing = [name for name in ("IMAP_HOST", "IMAP_USER", "IMAP_PASSWORD") if not current_app.config.get(name)]
    if missing:
        click.echo(f"error: {', '.join(missing)} not set; configure the support mailbox first", err=True)
        sys.exit(1)


@mail_cli.command("fetch")
def fetch() -> None:
    """Import every new message in one pass, then exit."""
    from helpdesk.channels.email.imap import NETWORK_ERRORS, fetch_once
    from helpdesk.runtime import tune_gc

    _require_imap()
    tune_gc()
    try:
        counts = fetch_once()
    except NETWORK_ERRORS as exc:
        click.echo(f"error: mailbox unreachable: {exc}", err=True)
        sys.exit(1)
    if counts is None:
        click.echo("a watcher is working the mailbox right now; nothing to do")
    else:
        click.echo(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no new mail")


@mail_cli.command("watch")
def watch() -> None:
    """Import mail as it arrives (IMAP IDLE) until stopped."""
    from helpdesk.channels.email.imap import watch as run
    from helpdesk.runtime import tune_gc

    _require_imap()
    tune_gc()
    stopping = []

    def stop(signum, frame):
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        run(should_stop=lambda: bool(stopping))
    except KeyboardInterrupt:
        pass
