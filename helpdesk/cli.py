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
