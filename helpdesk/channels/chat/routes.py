"""Public chat pages: the embeddable widget script, whether anyone can chat now, and a demo page."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request, send_from_directory

from helpdesk.channels.chat import routing
from helpdesk.channels.chat.namespace import allowed_origin
from helpdesk.extensions import limiter

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


@bp.get("/chat/availability")
@limiter.limit("60 per minute")
def availability():
    """Say whether an agent could take a chat now: the widget's pre-chat form tells the visitor before they type.

    The answer is a hint: ``start`` decides again, and says ``offline`` if nobody is free by then.
    """
    response = allow_chat_sites(jsonify({"available": routing.anyone_available()}))
    response.headers["Cache-Control"] = "private, max-age=10"
    return response


def allow_chat_sites(response: Response) -> Response:
    """Let the sites that embed the widget (HELPDESK_CHAT_ORIGINS) read ``response`` from their pages."""
    origin = request.headers.get("Origin")
    if origin and allowed_origin(origin):  # the rule the widget's socket keeps
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


@bp.get("/chat-demo")
def demo():
    """Show a plain host page with the widget, as a customer's site would embed it."""
    return render_template("chat/demo.html")
