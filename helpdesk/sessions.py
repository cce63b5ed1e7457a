"""Flask's signed-cookie sessions, made cheap to open.

Every Socket.IO event runs in a request context of its own, which opens the
session, so a chat message paid on every event for what Flask does per
request: build the signing serializer (itsdangerous's constructor serialises a
probe value each time) and parse the Cookie header (a missing cookie raises
and catches a KeyError). The serializer is now built once per set of keys, and
a request without a Cookie header gets an empty session straight away.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class SessionInterface(SecureCookieSessionInterface):
    """The stock cookie sessions; the serializer is cached, and rebuilt if the keys change."""

    def __init__(self):
        self._serializers: dict[tuple, URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = self._serializers[keys] = super().get_signing_serializer(app)
        return serializer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            return self.session_class()
        return super().open_session(app, request)
