"""The Flask app that jobs run in, created once per worker process."""

from __future__ import annotations

from flask import Flask

_app: Flask | None = None


def get_app() -> Flask:
    """Return this process's app, creating it on first use."""
    global _app
    if _app is None:
        from helpdesk import create_app

        _app = create_app()
    return _app


def set_app(app: Flask) -> None:
    """Use ``app`` for jobs in this process (tests and the worker entry point)."""
    global _app
    _app = app
