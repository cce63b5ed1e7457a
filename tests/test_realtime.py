"""The live-event plumbing: the wire JSON, batched emits through Redis, and when touched tickets are announced."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
import socketio

from helpdesk.messagequeue import MessageQueue, WireJSON
from helpdesk.realtime import TouchSchedule


def test_wire_json_reads_packets_as_the_standard_library_does():
    for text in ('["message",{"client_id":"c-1","body":"h\\u00e9llo","n":12,"x":1.5e3,"ok":true}]', "[]", '"a"'):
        assert WireJSON.loads(text) == json.loads(text)
        assert WireJSON.loads(text.encode()) == json.loads(text)
    assert WireJSON.loads("[1]", object_pairs_hook=list) == [1]
    assert WireJSON.dumps(["a", {"b": 1}], separators=(",", ":")) == '["a",{"b":1}]'


def test_wire_json_refuses_huge_integers():
    """A 100-digit limit, as python-engineio's own: int() of a huge literal is quadratic."""
    assert WireJSON.loads("[" + "9" * 100 + "]") == [int("9" * 100)]
    with pytest.raises(ValueError):
        WireJSON.loads("[" + "9" * 101 + "]")
    with pytest.raises(ValueError):
        WireJSON.loads("[" + "9" * 101 + "]", object_pairs_hook=dict)


def _probe(queue: MessageQueue, event: str) -> None:
    """Publish a plain emit, as python-socketio's own emit would, from another host."""
    socketio.RedisManager._publish(queue, {"method": "emit", "event": event, "data": [{}], "binary": False,
                                           "namespace": "/", "room": None, "skip_sid": None, "callback": None,
                                           "host_id": "another host"})


def _listen(queue: MessageQueue, received: list, ready: threading.Event) -> None:
    """Collect what ``queue``'s listener yields until the "end" probe."""
    for message in queue._listen():
        received.append(message)
        ready.set()
        if message["event"] == "end":
            return


def test_many_emits_travel_as_one_message_and_arrive_as_emits(redis_server):
    """Another process's listener gets each emit as python-socketio's own; the sender's skips its batch."""
    channel = f"test-{uuid.uuid4().hex}"
    sender = MessageQueue(redis_server.url, channel=channel)
    other = MessageQueue(redis_server.url, channel=channel)
    received: dict[str, list] = {"other": [], "sender": []}
    threads = []
    for name, queue in (("other", other), ("sender", sender)):
        ready = threading.Event()
        threads.append(threading.Thread(target=_listen, args=(queue, received[name], ready), daemon=True))
        threads[-1].start()
        # A listener subscribes when it first runs: probe until this one hears.
        while not ready.wait(0.05):
            _probe(sender, "probe")
    sender.emit_many([("message", {"id": 1, "body": "one"}, "/chat", "conversation:1", "sid-a"),
                      ("ticket", {"reference": "HD-1"}, "/agent", "agents", None)])
    _probe(sender, "end")
    for thread in threads:
        thread.join(10)
    assert [(m["method"], m["event"], m["data"], m["namespace"], m["room"], m["skip_sid"], m["host_id"])
            for m in received["other"] if m["event"] not in ("probe", "end")] == [
        ("emit", "message", [{"id": 1, "body": "one"}], "/chat", "conversation:1", "sid-a", sender.host_id),
        ("emit", "ticket", [{"reference": "HD-1"}], "/agent", "agents", None, sender.host_id),
    ]
    assert received["other"][-1]["event"] == "end"
    assert {m["event"] for m in received["sender"]} == {"probe", "end"}  # its own batch is not handled twice


def test_a_ticket_is_announced_at_once_then_at_most_every_interval():
    schedule = TouchSchedule(every=5.0)
    schedule.touch(1, "message", now=100.0)
    assert schedule.take_due(now=100.0) == {1: "message"}
    # Touched again soon after: due 5 s after its announcement, however often it is touched.
    schedule.touch(1, "message", now=101.0)
    schedule.touch(1, "message", now=103.0)
    assert schedule.take_due(now=104.9) == {}
    assert schedule.take_due(now=105.0) == {1: "message"}
    # Quiet for longer than the interval: announced at once again.
    schedule.touch(1, "message", now=111.0)
    assert schedule.take_due(now=111.0) == {1: "message"}


def test_each_ticket_keeps_its_own_schedule_and_the_latest_change():
    schedule = TouchSchedule(every=5.0)
    schedule.touch(1, "message", now=0.0)
    assert schedule.take_due(now=0.0) == {1: "message"}
    schedule.touch(2, "message", now=1.0)
    schedule.touch(1, "message", now=1.0)
    schedule.touch(1, "updated", now=2.0)
    assert schedule.take_due(now=1.0) == {2: "message"}
    assert schedule.take_due(now=5.0) == {1: "updated"}
    assert schedule.take_due(now=60.0) == {}
    assert schedule._announced == {}  # forgotten once the interval has passed


def test_no_more_than_the_rate_go_out_and_the_longest_waiting_go_first():
    schedule = TouchSchedule(every=5.0, rate=2.0)
    for ticket_id in (3, 1, 2):
        schedule.touch(ticket_id, "message", now=10.0 + ticket_id)
    assert schedule.take_due(now=20.0) == {1: "message", 2: "message"}  # a second's worth at once
    schedule.touch(4, "message", now=20.0)
    assert schedule.take_due(now=20.0) == {}  # none left until the allowance refills
    assert schedule.take_due(now=20.25) == {}
    assert schedule.take_due(now=20.5) == {3: "message"}  # due since 13, before 4 (due since 20)
    assert schedule.take_due(now=21.0) == {4: "message"}


def test_the_allowance_saves_up_no_more_than_one_second():
    schedule = TouchSchedule(every=5.0, rate=2.0)
    assert schedule.take_due(now=0.0) == {}
    for ticket_id in range(1, 6):
        schedule.touch(ticket_id, "message", now=1.0)
    assert schedule.take_due(now=100.0) == {1: "message", 2: "message"}  # not 200 seconds' worth
    assert len(schedule.take_due(now=101.0)) == 2
    assert len(schedule.take_due(now=102.0)) == 1
