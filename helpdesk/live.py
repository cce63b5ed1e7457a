"""The agents' Socket.IO namespace: live ticket updates, presence, who is viewing what, and chats."""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user
from flask_socketio import Namespace, join_room, leave_room

from helpdesk import accounts, presence, realtime
from helpdesk.auth import agent_for_token
from helpdesk.channels.chat import lifecycle, payloads, service
from helpdesk.channels.chat.protocol import (
    MAX_BODY,
    ChatError,
    body_of,
    buckets,
    client_id,
    flag,
    handler,
    integer,
    text,
)
from helpdesk.extensions import db, socketio
from helpdesk.models import Agent

#: sid -> (agent id, reference being viewed, typing); per process, which is
#: enough because each process answers for the sockets connected to it.
_viewing: dict[str, tuple[int, str | None, bool]] = {}


class AgentNamespace(Namespace):
    """Handlers for ``/agent``; every event is acknowledged."""

    def _agent(self) -> Agent:
        entry = _viewing.get(request.sid)
        agent = db.session.get(Agent, entry[0]) if entry else None
        if agent is None or not agent.active:
            raise ChatError("unauthorized", "this socket is not signed in; reconnect")
        return agent

    def _conversation(self, data: dict):
        agent = self._agent()
        return agent, lifecycle.for_agent(integer(data, "conversation_id"), agent)

    def on_connect(self, auth=None):
        """Authenticate by API token or console session, then join the agent's rooms."""
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") != current_app.config["BASE_URL"]:
            raise ConnectionRefusedError("origin not allowed")
        agent = None
        if isinstance(auth, dict) and auth.get("token"):
            agent = agent_for_token(str(auth["token"]))
        elif current_user.is_authenticated:
            agent = current_user._get_current_object()
        if agent is None:
            raise ConnectionRefusedError("unauthorized")
        _viewing[request.sid] = (agent.id, None, False)
        presence.connected(agent.id, request.sid)
        join_room(realtime.AGENTS)
        join_room(realtime.agent_room(agent.id))
        for team in agent.teams:
            join_room(realtime.team_room(team.id))
        if agent.is_admin:
            join_room(realtime.ADMINS)
        db.session.remove()

    def on_disconnect(self, reason=None):
        """Forget the socket and tell others it stopped viewing."""
        entry = _viewing.pop(request.sid, None)
        buckets.forget(request.sid)
        if entry:
            presence.disconnected(entry[0], request.sid)
        if entry and entry[1]:
            self._announce(entry[1])

    @handler
    def on_presence(self, data=None):
        """Set the agent's presence."""
        agent = self._agent()
        try:
            accounts.set_presence(agent, body_of(data).get("status"))
        except accounts.AccountError as exc:
            raise ChatError("invalid_value", str(exc)) from None
        db.session.commit()
        return {}

    @handler
    def on_accept(self, data=None):
        """Take a waiting chat; answer with its messages so far."""
        agent, conversation = self._conversation(body_of(data))
        lifecycle.accept(conversation, agent)
        db.session.commit()
        return {"conversation_id": conversation.id, "ticket_reference": conversation.ticket.reference,
                "messages": payloads.history(conversation, None, for_agent=True),
                "customer": payloads.request(conversation, None)["customer"], "state": conversation.state}

    @handler
    def on_message(self, data=None):
        """Store the agent's message (once per client_id), then acknowledge it with its id."""
        data = body_of(data)
        cid, body = client_id(data), text(data, "body", MAX_BODY)
        agent, conversation = self._conversation(data)
        ack = payloads.acknowledgement(service.agent_message(conversation, agent, cid, body))
        db.session.commit()
        return ack

    @handler
    def on_history(self, data=None):
        """Return a conversation's messages after ``after_id``."""
        data = body_of(data)
        after_id = integer(data, "after_id", nullable=True)
        _, conversation = self._conversation(data)
        return {"messages": payloads.history(conversation, after_id, for_agent=True)}

    @handler
    def on_typing(self, data=None):
        """Tell the visitor whether the agent is typing."""
        data = body_of(data)
        typing = flag(data, "typing")
        agent, conversation = self._conversation(data)
        service.typing_from_agent(conversation, agent, typing)
        return {}

    @handler
    def on_transfer(self, data=None):
        """Hand a chat to another agent (by email) or to a team (by name)."""
        data = body_of(data)
        email, team = text(data, "agent", 254, required=False), text(data, "team", 80, required=False)
        if bool(email) == bool(team):
            raise ChatError("invalid_request", "send exactly one of agent (an email) or team (a name)")
        agent, conversation = self._conversation(data)
        lifecycle.transfer(conversation, agent, email, team)
        db.session.commit()
        return {}

    @handler
    def on_end(self, data=None):
        """End a chat the agent is in."""
        agent, conversation = self._conversation(body_of(data))
        if conversation.agent_id != agent.id and conversation.offered_agent_id != agent.id and not agent.is_admin:
            raise ChatError("forbidden", "you are not in this chat")
        lifecycle.end(conversation, agent)
        db.session.commit()
        return {}

    @handler
    def on_view(self, data=None):
        """Record which ticket this socket views (and whether it types); return its viewers."""
        data = body_of(data)
        if "reference" not in data:
            raise ChatError("invalid_request", "send {reference, typing}")
        entry = _viewing.get(request.sid)
        if entry is None:  # the socket disconnected while this event was on its way
            raise ChatError("unauthorized", "this socket is not signed in; reconnect")
        agent_id, previous, _ = entry
        reference = data.get("reference") or None
        if reference is not None and not isinstance(reference, str):
            raise ChatError("invalid_request", "reference must be a string or null")
        _viewing[request.sid] = (agent_id, reference, bool(data.get("typing")))
        if previous and previous != reference:
            leave_room(realtime.ticket_room(previous))
            self._announce(previous)
        if reference:
            join_room(realtime.ticket_room(reference))
            self._announce(reference, skip_sid=request.sid)
        return {"viewers": _viewers(reference) if reference else []}

    def _announce(self, reference: str, skip_sid: str | None = None) -> None:
        socketio.emit(
            "viewers",
            {"reference": reference, "viewers": _viewers(reference)},
            to=realtime.ticket_room(reference),
            namespace=realtime.AGENT_NS,
            skip_sid=skip_sid,
        )


def _viewers(reference: str) -> list[dict]:
    ids = {(a, t) for a, ref, t in _viewing.values() if ref == reference}
    agents = {a.id: a.email for a in db.session.query(Agent).filter(Agent.id.in_({a for a, _ in ids}))}
    return [{"agent": agents[a], "typing": t} for a, t in sorted(ids) if a in agents]


def init_app(app) -> None:
    """Register the agents' and the customers' namespaces."""
    from helpdesk.channels.chat.namespace import ChatNamespace

    socketio.on_namespace(AgentNamespace(realtime.AGENT_NS))
    socketio.on_namespace(ChatNamespace(realtime.CHAT_NS))
