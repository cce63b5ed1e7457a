"""What every chat event handler shares: error acks, input checks, per-socket rate limits."""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

from flask import request
from sqlalchemy.exc import IntegrityError

from helpdesk.extensions import db

log = logging.getLogger(__name__)

#: Per socket: a token bucket refilled at RATE events a second, holding at most BURST.
RATE = 10.0
BURST = 20.0
MAX_BODY = 10_000
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class ChatError(Exception):
    """A request the server refuses, answered with ``{"error": {"code", "message"}}``."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code

    def ack(self) -> dict:
        """Return the error acknowledgement."""
        return error(self.code, str(self))


def error(code: str, message: str) -> dict:
    """Return an error acknowledgement."""
    return {"error": {"code": code, "message": message}}


class _Buckets:
    """Token buckets keyed by socket id; each process limits the sockets connected to it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def allow(self, sid: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._state.get(sid, (BURST, now))
            tokens = min(BURST, tokens + (now - stamp) * RATE)
            allowed = tokens >= 1.0
            self._state[sid] = (tokens - 1.0 if allowed else tokens, now)
            return allowed

    def forget(self, sid: str) -> None:
        with self._lock:
            self._state.pop(sid, None)


buckets = _Buckets()

#: The socket whose event is being handled, where the event runs without a request context (see ChatNamespace).
_event_sid: contextvars.ContextVar[str | None] = contextvars.ContextVar("chat_event_sid", default=None)


def current_sid() -> str:
    """Return the id of the socket whose event is being handled."""
    return _event_sid.get() or request.sid


@contextmanager
def handling(sid: str) -> Iterator[None]:
    """Run the block as the handling of an event from socket ``sid``."""
    token = _event_sid.set(sid)
    try:
        yield
    finally:
        _event_sid.reset(token)


def handler(fn: Callable) -> Callable:
    """Wrap an event handler: rate-limit, turn ChatError into an error ack, never leave a socket unanswered."""

    @wraps(fn)
    def wrapped(self, data=None):
        if not buckets.allow(current_sid()):
            return error("rate_limited", f"more than {RATE:.0f} events a second; slow down and resend")
        try:
            try:
                return fn(self, data)
            except IntegrityError:
                # Two copies of one message raced past the duplicate check: the retry finds the stored one.
                db.session.rollback()
                return fn(self, data)
        except ChatError as exc:
            db.session.rollback()
            return exc.ack()
        except Exception:
            db.session.rollback()
            log.exception("chat event %s failed", fn.__name__)
            return error("internal", "the server could not handle this event; resend it")

    return wrapped


def body_of(data) -> dict:
    """Return the event's payload as a dict, or raise invalid_request."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ChatError("invalid_request", "the payload must be a JSON object")
    return data


def text(data: dict, name: str, max_length: int, required: bool = True) -> str:
    """Return the stripped string field ``name``."""
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ChatError("invalid_request", f"{name} must be a string")
    value = value.strip()
    if required and not value:
        raise ChatError("invalid_request", f"{name} must not be empty")
    if len(value) > max_length:
        raise ChatError("invalid_request", f"{name} is longer than {max_length} characters")
    return value


def client_id(data: dict) -> str:
    """Return the client's message id: 1 to 64 letters, digits or ``_.:-``."""
    value = data.get("client_id")
    if not isinstance(value, str) or not _CLIENT_ID.match(value):
        raise ChatError("invalid_request", "client_id must be 1 to 64 characters of A-Z a-z 0-9 _ . : -")
    return value


def integer(data: dict, name: str, nullable: bool = False) -> int | None:
    """Return the integer field ``name`` (None allowed when ``nullable``)."""
    value = data.get(name)
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ChatError("invalid_request", f"{name} must be a non-negative integer" + (" or null" if nullable else ""))
    return value


def flag(data: dict, name: str) -> bool:
    """Return the boolean field ``name``."""
    value = data.get(name)
    if not isinstance(value, bool):
        raise ChatError("invalid_request", f"{name} must be true or false")
    return value
