"""Serve web + Socket.IO on gevent: ``python -m helpdesk.server --host H --port P``.

Monkey-patching must come before anything else imports sockets or threads,
which is why ``flask serve`` starts this module in a fresh interpreter.

gevent's greenlet tree tracking is off. With it on, every greenlet spawned
keeps its spawner's stack (ten frame records) and its tree's locals for as
long as it lives, and Engine.IO spawns one per socket for every ping cycle,
which sleeps out the 25 s interval: with 5,000 sockets that was 200
greenlets a second whose records all outlived the collector's first
generation, to be collected later in the slow ones (docs/benchmarks.md).
Nothing here reads ``spawning_stack`` or ``spawn_tree_locals``.
"""

from gevent import config as gevent_config
from gevent import monkey

gevent_config.track_greenlet_tree = False
monkey.patch_all()

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402

from helpdesk.runtime import tune_gc  # noqa: E402

#: How long the event loop may hold the GIL while another thread waits for it (Python's default: 5 ms).
#: The chat writer's native thread waits for it twice a batch, to send the statement and to read the
#: rows; with 5 ms a batch's statement took 2.7 ms at the median, with 0.5 ms 1.3 ms
#: (docs/benchmarks.md). A loop that no thread is waiting on is never interrupted.
SWITCH_INTERVAL = 0.0005


def raise_fd_limit() -> int:
    """Raise the open-file limit to the hard limit: every WebSocket is a descriptor, and 1,024 is a common default."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(argv: list[str] | None = None) -> int:
    """Run the production server until stopped."""
    parser = argparse.ArgumentParser(prog="helpdesk.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)

    from config import Config, ConfigError

    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    config.SOCKETIO_ASYNC_MODE = "gevent"
    raise_fd_limit()

    from helpdesk import create_app
    from helpdesk.extensions import socketio

    app = create_app(config)
    tune_gc()
    sys.setswitchinterval(SWITCH_INTERVAL)
    print(f"help desk serving on http://{args.host}:{args.port}/", flush=True)
    socketio.run(app, host=args.host, port=args.port, log_output=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
