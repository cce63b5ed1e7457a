"""``python -m workers``: the RQ worker and its scheduler, restarted whenever it dies.

The parent process only supervises: it runs the worker in a child process and
starts a new one, with backoff, whenever the child exits (a Redis restart, a
lost connection, a crash), so the desk keeps working without a human.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time


def _child(burst: bool) -> int:
    from config import ConfigError

    try:
        from workers.app import get_app

        app = get_app()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from workers.worker import run

    with app.app_context():
        run(burst=burst)
    return 0


def _supervise() -> int:
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, frame):
        nonlocal stopping
        stopping = True
        if child and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    delay = 1.0
    while not stopping:
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "-m", "workers", "--child"])
        code = child.wait()
        if stopping:
            break
        if code == 2:
            return 2  # bad configuration: restarting cannot help
        delay = 1.0 if time.monotonic() - started > 60 else min(delay * 2, 30.0)
        print(f"worker exited with {code}; restarting in {delay:.0f}s", file=sys.stderr, flush=True)
        time.sleep(delay)
    if child and child.poll() is None:
        try:
            child.wait(15)  # a job in progress may finish; a worker stuck reconnecting will not
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the supervised worker (or, with --child, the worker itself)."""
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--burst", action="store_true", help="work until the queues are empty, then exit")
    args = parser.parse_args(argv)
    if args.child or args.burst:
        return _child(args.burst)
    return _supervise()


if __name__ == "__main__":
    sys.exit(main())
