"""Cookie sessions: the signing serializer is built once per key set, and a request without cookies skips parsing."""

from __future__ import annotations

from flask import request, session

from helpdesk.sessions import SessionInterface


def test_the_serializer_is_kept_until_the_keys_change(app):
    interface = app.session_interface
    assert isinstance(interface, SessionInterface)
    first = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is first
    old_key = app.secret_key
    try:
        app.secret_key = "another key"
        rotated = interface.get_signing_serializer(app)
        assert rotated is not first
        assert rotated.loads(rotated.dumps({"a": 1})) == {"a": 1}
    finally:
        app.secret_key = old_key
    assert interface.get_signing_serializer(app) is first


def test_a_session_without_a_cookie_is_empty_and_a_signed_one_is_read(app):
    with app.test_request_context("/"):
        opened = app.session_interface.open_session(app, request)
        assert opened is not None and dict(opened) == {} and not opened.modified
    with app.test_client() as client:
        with client.session_transaction() as stored:
            stored["greeting"] = "hello"
        cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    with app.test_request_context("/", headers={"Cookie": f"{cookie.key}={cookie.value}"}):
        assert session.get("greeting") == "hello"
    with app.test_request_context("/", headers={"Cookie": f"{cookie.key}=forged{cookie.value}"}):
        assert session.get("greeting") is None
