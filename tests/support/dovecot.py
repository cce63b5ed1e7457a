"""A throwaway Dovecot IMAP server on a free loopback port, with one Maildir user."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.support.servers import free_port, wait_for_port

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
# Without inotify (its per-user limit is easily used up on a busy CI machine) Dovecot
# polls for IDLE; poll every second rather than every 30.
mailbox_idle_check_interval = 1 secs
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
default_login_user = {login_user}
default_internal_user = {internal_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Processed {{
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = {max_connections}
}}
"""


def dovecot_binary() -> str | None:
    """Return the dovecot binary, or None when Debian's dovecot-imapd is not installed."""
    return shutil.which("dovecot") or (os.path.exists("/usr/sbin/dovecot") and "/usr/sbin/dovecot") or None


class DovecotServer:
    """Dovecot serving IMAP for ``user``/``password`` on a free port, data in a temp folder."""

    def __init__(self, user: str = "support@helpdesk.test", password: str = "imap-secret", max_connections: int = 10):
        """``max_connections``: how many IMAP sessions the user may hold at once (Dovecot's default is 10)."""
        self.user, self.password, self.max_connections = user, password, max_connections
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.process: subprocess.Popen | None = None

    def start(self) -> DovecotServer:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot is not installed (Debian package dovecot-imapd)")
        mail_user = pwd.getpwnam("dovecot")
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        shutil.chown(self.root / "mail", mail_user.pw_uid, mail_user.pw_gid)
        (self.root / "users").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        (self.root / "dovecot.conf").write_text(CONFIG.format(
            root=self.root, port=self.port, uid=mail_user.pw_uid, gid=mail_user.pw_gid,
            login_user="dovenull", internal_user="dovecot", max_connections=self.max_connections,
        ))
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: crash() kills the master and every imap process
        )
        try:
            wait_for_port(self.port, timeout=20, process=self.process)
        except Exception as exc:
            log = (self.root / "dovecot.log").read_text() if (self.root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot did not start: {exc}\n{log[-2000:]}") from exc
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    def crash(self) -> None:
        """SIGKILL Dovecot and all its processes, as a machine or OOM kill would; start() brings it back, mail kept."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def client(self):
        """Return a logged-in IMAPClient (for tests that append or inspect mail)."""
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver ``raw`` into ``folder`` as a mail server would."""
        with self.client() as client:
            client.append(folder, raw)
