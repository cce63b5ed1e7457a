"""The customers' Socket.IO namespace ``/chat``: thin handlers over the chat service.

Connecting and disconnecting run as Flask-SocketIO runs every event, in a
request context built from the socket's handshake. Every other event runs in
an app context only: a visitor has no cookie session and no route, and
building a request context per event was a fifth of the cost of a chat
message. Handlers name their socket with ``current_sid()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request
from flask_socketio import Namespace, join_room, leave_room

from helpdesk import realtime
from helpdesk.channels.chat import lifecycle, payloads, service, writer
from helpdesk.channels.chat.protocol import (
    MAX_BODY,
    ChatError,
    body_of,
    buckets,
    client_id,
    current_sid,
    flag,
    handler,
    handling,
    integer,
    text,
)
from helpdesk.extensions import db, socketio
from helpdesk.models import Conversation


@dataclass
class Visitor:
    """What this process knows about one connected visitor socket."""

    visitor_hash: str | None = None
    conversation_id: int | None = None
    #: Kept in this process's memory only, to echo in ``start``; the database holds its hash.
    token: str | None = None


#: sid -> Visitor, per process: each process answers for the sockets connected to it.
_visitors: dict[str, Visitor] = {}


def allowed_origin(origin: str | None) -> bool:
    """Say whether a page from ``origin`` may open the widget's socket (no Origin: not a browser)."""
    if origin is None:
        return True
    allowed = {*current_app.config["CHAT_ORIGINS"], current_app.config["BASE_URL"]}
    return origin.rstrip("/") in allowed


def _greet(sid: str, greetings: list[tuple[str, dict]]) -> None:
    """Tell a returning visitor where their conversation stands, once the connection is accepted.

    Emitted from inside the connect handler, these would reach the client before
    the namespace's CONNECT packet, which some clients drop.
    """
    socketio.sleep(0.05)
    for event, data in greetings:
        realtime.emit(event, data, to=sid, namespace=realtime.CHAT_NS)


class ChatNamespace(Namespace):
    """Handlers for ``/chat``; every event is acknowledged with a result or an error."""

    def trigger_event(self, event, *args):
        """Run connect and disconnect as Flask-SocketIO does; any other event in an app context only."""
        if event in ("connect", "disconnect"):
            return super().trigger_event(event, *args)
        sid, *data = args
        environ = self.socketio.server.get_environ(sid, namespace=self.namespace)
        method = getattr(self, f"on_{event}", None)
        if environ is None or method is None:
            return None
        with environ["flask.app"].app_context(), handling(sid):
            return method(*data[:1])

    def on_connect(self, auth=None):
        """Check the page's origin; resume the conversation a returning visitor's token names."""
        if not allowed_origin(request.headers.get("Origin")):
            raise ConnectionRefusedError("origin not allowed")
        visitor = Visitor()
        token = auth.get("visitor_token") if isinstance(auth, dict) else None
        if isinstance(token, str) and 0 < len(token) <= 200:
            conversation = service.latest(Conversation.digest(token))
            if conversation is not None:
                visitor = Visitor(conversation.visitor_hash, conversation.id, token)
                join_room(realtime.conversation_room(conversation.id))
                greetings = [("state", {"state": conversation.state, "conversation_id": conversation.id,
                                        "ticket_reference": conversation.ticket.reference})]
                if conversation.state == "active" and conversation.agent:
                    greetings.append(("agent", {"name": conversation.agent.name}))
                socketio.start_background_task(_greet, request.sid, greetings)
        _visitors[request.sid] = visitor

    def on_disconnect(self, reason=None):
        """Forget the socket."""
        _visitors.pop(request.sid, None)
        buckets.forget(request.sid)

    def _conversation(self) -> Conversation:
        visitor = _visitors.get(current_sid())
        conversation = db.session.get(Conversation, visitor.conversation_id) if visitor and visitor.conversation_id \
            else None
        if conversation is None:
            raise ChatError("no_conversation", "send start first")
        return conversation

    @handler
    def on_start(self, data=None):
        """Open a conversation (or return the open one) and issue the visitor token."""
        data = body_of(data)
        name = text(data, "name", 200, required=False)
        email = text(data, "email", 254, required=False)
        body = text(data, "message", MAX_BODY)
        sid = current_sid()
        visitor = _visitors.setdefault(sid, Visitor())
        if visitor.visitor_hash is None:
            visitor.token = service.new_token()
            visitor.visitor_hash = Conversation.digest(visitor.token)
        conversation = service.start(visitor.visitor_hash, name, email, body)
        db.session.commit()
        if visitor.conversation_id != conversation.id:
            if visitor.conversation_id:
                leave_room(realtime.conversation_room(visitor.conversation_id), sid=sid, namespace=realtime.CHAT_NS)
            visitor.conversation_id = conversation.id
            join_room(realtime.conversation_room(conversation.id), sid=sid, namespace=realtime.CHAT_NS)
        return {"conversation_id": conversation.id, "ticket_reference": conversation.ticket.reference,
                "state": conversation.state, "visitor_token": visitor.token}

    @handler
    def on_message(self, data=None):
        """Store the visitor's message (once per client_id), then acknowledge it with its id."""
        data = body_of(data)
        cid, body = client_id(data), text(data, "body", MAX_BODY)
        sid = current_sid()
        visitor = _visitors.get(sid)
        if visitor is not None and visitor.conversation_id:
            ack = writer.store(service.VisitorLine(visitor.conversation_id, cid, body, sid))
            if ack is not None:
                return ack
        conversation = self._conversation()
        ack = payloads.acknowledgement(service.customer_message(conversation, cid, body, sid=sid))
        db.session.commit()
        return ack

    @handler
    def on_history(self, data=None):
        """Return the conversation's messages after ``after_id``."""
        after_id = integer(body_of(data), "after_id", nullable=True)
        return {"messages": payloads.history(self._conversation(), after_id)}

    @handler
    def on_typing(self, data=None):
        """Tell the agent whether the visitor is typing."""
        typing = flag(body_of(data), "typing")
        service.typing_from_visitor(self._conversation(), typing)
        return {}

    @handler
    def on_end(self, data=None):
        """End the conversation."""
        lifecycle.end(self._conversation(), None)
        db.session.commit()
        return {}

    @handler
    def on_transcript(self, data=None):
        """Email the visitor the conversation so far (an addition to CONTRACT §6)."""
        from helpdesk.channels.chat.transcript import request_transcript

        request_transcript(self._conversation())
        return {}

