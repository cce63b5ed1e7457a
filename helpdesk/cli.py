"""The ``flask --app wsgi ...`` commands of CONTRACT §3."""

from __future__ import annotations

import os
import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import Agent, ApiToken

agents_cli = AppGroup("agents", help="Manage agents.")
tokens_cli = AppGroup("tokens", help="Manage API tokens.")
demo_cli = AppGroup("demo", help="Demo data.")


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


@agents_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", required=True)
@click.option("--admin", is_flag=True, help="Give the agent the admin role.")
def create_agent(email: str, name: str, password: str, admin: bool) -> None:
    """Create an agent (or reset an existing one's name, password and role)."""
    from helpdesk.accounts import AccountError, save_agent

    try:
        agent = save_agent(email=email, name=name, password=password, role="admin" if admin else "agent")
    except AccountError as exc:
        _fail(f"error: {exc}")
    db.session.commit()
    click.echo(f"agent {agent.email} ({agent.role}) ready")


@tokens_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", default="cli", help="A label to tell tokens apart.")
def create_token(email: str, name: str) -> None:
    """Create an API token for an agent and print only the token."""
    agent = db.session.scalar(select(Agent).where(Agent.email == email.strip().lower()))
    if agent is None:
        _fail(f"error: no agent {email}")
    token, secret = ApiToken.issue(agent, name)
    db.session.add(token)
    db.session.commit()
    click.echo(secret)


@tokens_cli.command("list")
@click.option("--email", required=True)
def list_tokens(email: str) -> None:
    """List an agent's tokens (prefix, label, created, last used, revoked)."""
    agent = db.session.scalar(select(Agent).where(Agent.email == email.strip().lower()))
    if agent is None:
        _fail(f"error: no agent {email}")
    for token in db.session.scalars(select(ApiToken).where(ApiToken.agent_id == agent.id).order_by(ApiToken.id)):
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        created = f"{token.created_at:%Y-%m-%d}"
        click.echo(f"{token.prefix}…  {token.name or '-':12}  created {created}  used {used}  {state}")


@tokens_cli.command("revoke")
@click.option("--prefix", required=True, help="The token's first characters, as `tokens list` shows them.")
def revoke_token(prefix: str) -> None:
    """Revoke a token: it stops working at once."""
    from helpdesk.models.base import utcnow

    tokens = db.session.scalars(select(ApiToken).where(ApiToken.prefix == prefix, ApiToken.revoked_at.is_(None))).all()
    if len(tokens) != 1:
        _fail(f"error: {len(tokens)} active tokens start with {prefix!r}")
    tokens[0].revoked_at = utcnow()
    db.session.commit()
    click.echo(f"revoked {prefix}…")


@demo_cli.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when tickets exist.")
def seed(if_empty: bool) -> None:
    """Fill the desk with customers and tickets across channels."""
    from helpdesk.demo import seed_demo

    click.echo(seed_demo(only_if_empty=if_empty))


@click.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def serve(host: str, port: int) -> None:
    """Serve web + Socket.IO on the production (gevent) server."""
    args = [sys.executable, "-m", "helpdesk.server", "--host", host, "--port", str(port)]
    os.execv(sys.executable, args)


def init_app(app: Flask) -> None:
    """Register the command groups."""
    from helpdesk.channels.email.cli import mail_cli

    for command in (agents_cli, tokens_cli, demo_cli, mail_cli, serve):
        app.cli.add_command(command)
