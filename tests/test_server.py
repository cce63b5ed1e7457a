"""Long-running processes' settings (``python -m helpdesk.server``, ``mail watch``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.servers import ROOT


def test_the_server_freezes_its_start_up_objects_and_collects_young_objects_less_often():
    """Full collections paused every socket 90-175 ms every few seconds (docs/benchmarks.md, chat, fifth round)."""
    probe = ("import gc, json; from helpdesk.runtime import tune_gc; before = gc.get_freeze_count(); tune_gc(); "
             "print(json.dumps([before, gc.get_freeze_count(), gc.get_threshold()]))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True)
    before, frozen, thresholds = json.loads(out.stdout.strip().splitlines()[-1])
    assert before == 0 and frozen > 10_000  # the modules and objects built so far are out of the collector's sight
    assert thresholds == [20_000, 20, 20]


def test_the_server_keeps_no_spawning_stack_for_its_greenlets():
    """Engine.IO spawns a greenlet per socket and ping cycle; each kept ten frame records for 25 s (benchmarks.md)."""
    probe = ("import json, gevent, helpdesk.server; g = gevent.spawn(lambda: None); g.join(); "
             "print(json.dumps([gevent.config.track_greenlet_tree, g.spawning_stack is None]))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, True]


def test_the_server_lets_the_chat_writers_thread_have_the_gil_within_half_a_millisecond(base_env):
    """The writer's thread waited for the loop's GIL up to Python's 5 ms switch interval (docs/benchmarks.md)."""
    probe = ("import json, sys; import helpdesk.server as server; from helpdesk.extensions import socketio; "
             "socketio.run = lambda *args, **kwargs: print(json.dumps(sys.getswitchinterval())); "
             "sys.exit(server.main(['--port', '0']))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True, env={**os.environ, **base_env})
    assert json.loads(out.stdout.strip().splitlines()[-1]) == 0.0005
