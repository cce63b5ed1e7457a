"""Public chat pages: the embeddable widget script and a demo page that embeds it."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, send_from_directory

bp = Blueprint("chat", __name__)

#: Seconds browsers and proxies may keep widget.js; short, so a fix reaches every site within minutes.
WIDGET_MAX_AGE = 300


@bp.get("/widget.js")
def widget():
    """Serve the widget script that any allowed site embeds with one script tag."""
    response = send_from_directory(current_app.static_folder, "widget/widget.js",
                                   mimetype="text/javascript", max_age=WIDGET_MAX_AGE)
    response.headers["Cache-Control"] = f"public, max-age={WIDGET_MAX_AGE}"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.charset = "utf-8"
    return response


@bp.get("/chat-demo")
def demo():
    """Show a plain host page with the widget, as a customer's site would embed it."""
    return render_template("chat/demo.html")
