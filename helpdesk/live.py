"""The agents' Socket.IO namespace: live ticket updates, presence, who is viewing what."""

from __future__ import annotations

from flask import request
from flask_login import current_user
from flask_socketio import Namespace, join_room, leave_room

from helpdesk import accounts, realtime
from helpdesk.auth import agent_for_token
from helpdesk.extensions import db, socketio
from helpdesk.models import Agent

#: sid -> (agent id, reference being viewed, typing); per process, which is
#: enough because each process answers for the sockets connected to it.
_viewing: dict[str, tuple[int, str | None, bool]] = {}


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


class AgentNamespace(Namespace):
    """Handlers for ``/agent``; every event is acknowledged."""

    def _agent(self) -> Agent | None:
        entry = _viewing.get(request.sid)
        return db.session.get(Agent, entry[0]) if entry else None

    def on_connect(self, auth=None):
        """Authenticate by API token or console session, then join the agent's rooms."""
        agent = None
        if isinstance(auth, dict) and auth.get("token"):
            agent = agent_for_token(str(auth["token"]))
        elif current_user.is_authenticated:
            agent = current_user._get_current_object()
        if agent is None:
            raise ConnectionRefusedError("unauthorized")
        _viewing[request.sid] = (agent.id, None, False)
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
        if entry and entry[1]:
            self._announce(entry[1])

    def on_presence(self, data=None):
        """Set the agent's presence."""
        agent = self._agent()
        status = (data or {}).get("status") if isinstance(data, dict) else None
        try:
            accounts.set_presence(agent, status)
        except accounts.AccountError as exc:
            return _error("invalid_value", str(exc))
        db.session.commit()
        return {}

    def on_view(self, data=None):
        """Record which ticket this socket views (and whether it types); return its viewers."""
        if not isinstance(data, dict) or "reference" not in data:
            return _error("invalid_request", "send {reference, typing}")
        agent_id, previous, _ = _viewing[request.sid]
        reference = data.get("reference") or None
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
    """Register the namespace."""
    socketio.on_namespace(AgentNamespace(realtime.AGENT_NS))
