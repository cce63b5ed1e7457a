"""Read the help desk's settings from the environment; nothing else reads it.

A setting that is present but invalid raises ConfigError with one line naming
the variable and what is wrong, which the entry points print before exiting.
"""

from __future__ import annotations

import os
import re
import secrets
import zoneinfo
from pathlib import Path

ROOT = Path(__file__).resolve().parent
INSTANCE = ROOT / "instance"

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class ConfigError(ValueError):
    """An environment variable that is set but cannot be used."""


def _bool(env, name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use true or false)")


def _int(env, name: str, default: int, minimum: int = 0, maximum: int = 1 << 30) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number") from None
    if not minimum <= number <= maximum:
        raise ConfigError(f"{name}={value!r} must be between {minimum} and {maximum}")
    return number


def _origins(env, name: str, default: str) -> list[str]:
    value = env.get(name) or default
    origins = []
    for item in value.split(","):
        origin = item.strip().rstrip("/")
        if not origin:
            continue
        if not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ConfigError(f"{name}: {origin!r} is not an origin like https://www.example.com")
        origins.append(origin)
    return origins


def _secret_key(env) -> str:
    if env.get("SECRET_KEY"):
        return env["SECRET_KEY"]
    path = INSTANCE / "secret_key"
    if not path.exists():
        INSTANCE.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _database_url(env) -> str:
    url = env.get("DATABASE_URL") or f"sqlite:///{INSTANCE / 'helpdesk.db'}"
    if url.startswith("postgres://"):  # Heroku-style URLs name no driver
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if not url.startswith(("sqlite:", "postgresql+psycopg:")):
        raise ConfigError(f"DATABASE_URL={url!r} must be a sqlite:// or postgresql:// URL")
    return url


def _engine_options(url: str) -> dict:
    """Return the SQLAlchemy engine options for the database ``url``.

    On PostgreSQL, SQLAlchemy writes PostgreSQL's own ``$1`` placeholders and
    psycopg's RawCursor sends them as they are: psycopg's default cursor
    rewrites every ``%(name)s`` query in Python, and caches that only for
    statements under 4 KB and 50 parameters, which a batch's multi-row
    INSERTs never are (about a millisecond of CPU per imported mail).
    """
    if not url.startswith("postgresql+psycopg:"):
        return {"pool_pre_ping": True}
    import psycopg

    return {"pool_pre_ping": True, "paramstyle": "numeric_dollar",
            "connect_args": {"cursor_factory": psycopg.RawCursor}}


class Config:
    """Every setting of the help desk, read once from an environment mapping."""

    TESTING = False

    def __init__(self, env=None):
        from helpdesk.sla.hours import HoursError, parse_hours

        env = os.environ if env is None else env
        self.SECRET_KEY = _secret_key(env)
        self.SQLALCHEMY_DATABASE_URI = _database_url(env)
        self.SQLALCHEMY_ENGINE_OPTIONS = _engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.REDIS_URL = env.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
        if not self.REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"REDIS_URL={self.REDIS_URL!r} must be a redis:// URL")

        self.BASE_URL = (env.get("HELPDESK_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
        if not self.BASE_URL.startswith(("http://", "https://")):
            raise ConfigError(f"HELPDESK_BASE_URL={self.BASE_URL!r} must start with http:// or https://")

        self.TIMEZONE = env.get("HELPDESK_TIMEZONE") or "UTC"
        try:
            zoneinfo.ZoneInfo(self.TIMEZONE)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"HELPDESK_TIMEZONE={self.TIMEZONE!r} is not an IANA time zone") from None

        self.BUSINESS_HOURS = env.get("HELPDESK_BUSINESS_HOURS") or "Mon-Fri 09:00-17:00"
        try:
            parse_hours(self.BUSINESS_HOURS)
        except HoursError as exc:
            raise ConfigError(f"HELPDESK_BUSINESS_HOURS={self.BUSINESS_HOURS!r}: {exc}") from None

        self.HOLIDAYS = (env.get("HELPDESK_HOLIDAYS") or "").strip()
        if self.HOLIDAYS:
            import holidays

            country, _, subdiv = self.HOLIDAYS.partition("-")
            try:
                holidays.country_holidays(country, subdiv=subdiv or None)
            except (NotImplementedError, ValueError, KeyError):
                raise ConfigError(
                    f"HELPDESK_HOLIDAYS={self.HOLIDAYS!r} is not a known country or subdivision"
                ) from None

        self.ACK_BUSINESS_DAYS = _int(env, "HELPDESK_ACK_BUSINESS_DAYS", 2, 1, 60)
        #: How often the SLA sweep catches timers Redis lost (seconds).
        self.SWEEP_SECONDS = _int(env, "HELPDESK_SWEEP_SECONDS", 60, 1, 3600)
        self.PHONE_REGION = (env.get("HELPDESK_PHONE_REGION") or "US").upper()
        import phonenumbers

        if self.PHONE_REGION not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"HELPDESK_PHONE_REGION={self.PHONE_REGION!r} is not a known region (e.g. US, CA, FR)")
        self.SUPPORT_ADDRESS = env.get("SUPPORT_ADDRESS") or "support@localhost"
        if not _EMAIL.match(self.SUPPORT_ADDRESS):
            raise ConfigError(f"SUPPORT_ADDRESS={self.SUPPORT_ADDRESS!r} is not an email address")

        self.IMAP_HOST = env.get("IMAP_HOST") or ""
        self.IMAP_PORT = _int(env, "IMAP_PORT", 993, 1, 65535)
        self.IMAP_USER = env.get("IMAP_USER") or ""
        self.IMAP_PASSWORD = env.get("IMAP_PASSWORD") or ""
        self.IMAP_FOLDER = env.get("IMAP_FOLDER") or "INBOX"
        self.IMAP_SSL = _bool(env, "IMAP_SSL", True)
        #: Where imported mail is moved; empty: leave it in place, marked \Seen. Never deleted.
        self.IMAP_PROCESSED_FOLDER = env.get("IMAP_PROCESSED_FOLDER", "Processed")
        self.SMTP_HOST = env.get("SMTP_HOST") or "localhost"
        self.SMTP_PORT = _int(env, "SMTP_PORT", 25, 1, 65535)
        self.SMTP_USER = env.get("SMTP_USER") or ""
        self.SMTP_PASSWORD = env.get("SMTP_PASSWORD") or ""
        self.SMTP_STARTTLS = _bool(env, "SMTP_STARTTLS", False)

        self.ATTACHMENT_DIR = env.get("HELPDESK_ATTACHMENT_DIR") or str(INSTANCE / "attachments")
        self.MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
        self.MAX_CONTENT_LENGTH = 60 * 1024 * 1024
        self.REFERENCE_PREFIX = "HD"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = self.BASE_URL.startswith("https://")
        self.REMEMBER_COOKIE_DURATION = 14 * 24 * 3600
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.SOCKETIO_ASYNC_MODE = env.get("HELPDESK_ASYNC_MODE") or None
        #: Seconds a chat waits for an agent to accept before it turns offline (leave a message).
        self.CHAT_ACCEPT_SECONDS = _int(env, "HELPDESK_CHAT_ACCEPT_SECONDS", 60, 1, 3600)
        #: Web sites (origins) that may embed the chat widget; the desk's own origin always may.
        self.CHAT_ORIGINS = _origins(env, "HELPDESK_CHAT_ORIGINS", self.BASE_URL)
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL
        # Explicit: Flask-Limiter's one limiter otherwise keeps the last app's setting.
        self.RATELIMIT_ENABLED = True
        #: What a satisfaction rating of 1 or 2 does: "notify" the team (a note and a live notice) or "reopen".
        self.HELPDESK_LOW_RATING_ACTION = (env.get("HELPDESK_LOW_RATING_ACTION") or "notify").strip().lower()
        if self.HELPDESK_LOW_RATING_ACTION not in ("notify", "reopen"):
            raise ConfigError(f"HELPDESK_LOW_RATING_ACTION={self.HELPDESK_LOW_RATING_ACTION!r}: use notify or reopen")
        #: Jobs run in the web process instead of RQ when true (one-off scripts).
        self.RQ_SYNC = False

    @classmethod
    def from_env(cls, env=None) -> Config:
        """Return the configuration for ``env`` (default: the process environment)."""
        return cls(env)
