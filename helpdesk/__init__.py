"""The help desk: create_app builds the Flask application."""

from __future__ import annotations

import logging

from flask import Flask

from config import ROOT, Config
from helpdesk.sessions import SessionInterface

#: The pages' Content-Security-Policy; a view may send a stricter or (remote images) a looser one.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def create_app(config: Config | None = None) -> Flask:
    """Create and configure the application for ``config`` (default: the environment)."""
    config = config or Config.from_env()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.from_object(config)
    app.session_interface = SessionInterface()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("helpdesk", "workers"):
        logging.getLogger(name).setLevel(logging.INFO)

    from helpdesk import effects, i18n  # noqa: F401  (effects registers the after-commit hooks)
    from helpdesk.extensions import babel, csrf, db, limiter, login_manager, migrate, socketio

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(ROOT / "translations"))
    babel.init_app(app, locale_selector=i18n.select_locale)
    limiter.init_app(app)
    from helpdesk.messagequeue import MessageQueue, WireJSON

    socketio.init_app(
        app,
        client_manager=MessageQueue(app.config["REDIS_URL"], channel="flask-socketio"),
        json=WireJSON,
        # An event runs in its socket's reader rather than in a new greenlet or thread each: one
        # socket's events are handled in order, and a slow handler holds up only its own socket.
        async_handlers=False,
        async_mode=app.config.get("SOCKETIO_ASYNC_MODE"),
        # The widget's sites may open /chat; /agent checks for the desk's own origin in its connect handler.
        cors_allowed_origins=sorted({app.config["BASE_URL"], *app.config["CHAT_ORIGINS"]}),
        manage_session=False,
    )

    from helpdesk import api, auth, cli, console, health, kb, live, portal
    from helpdesk.channels import web
    from helpdesk.channels.chat import routes as chat_routes

    auth.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(chat_routes.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(portal.bp)
    kb.init_app(app)
    i18n.init_app(app)
    cli.init_app(app)
    live.init_app(app)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    return app
