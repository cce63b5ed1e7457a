"""The support mailbox's sync state and every raw message taken from it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.extensions import db
from helpdesk.models.base import UTCDateTime, utcnow
from helpdesk.models.message import Message


class Mailbox(db.Model):
    """One IMAP folder we take mail from, and how its sync is going."""

    __table_args__ = (UniqueConstraint("host", "username", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    username: Mapped[str] = mapped_column(String(255))
    folder: Mapped[str] = mapped_column(String(255))
    #: The folder's UIDVALIDITY when last_uid was committed; a change means resync.
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    #: The highest UID whose message is committed; the next pass fetches above it.
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Messages in the folder above last_uid at the last look.
    waiting: Mapped[int] = mapped_column(default=0)
    #: Seconds between a message's arrival (INTERNALDATE) and its commit, last batch.
    lag_seconds: Mapped[float | None] = mapped_column()
    #: Set by an admin to ask the watcher for a full resync.
    resync_requested: Mapped[bool] = mapped_column(default=False)

    @property
    def label(self) -> str:
        """Return ``user@host/folder``."""
        return f"{self.username}@{self.host}/{self.folder}"


class InboundEmail(db.Model):
    """A raw message as fetched, stored before parsing so nothing is ever lost."""

    __table_args__ = (UniqueConstraint("mailbox_id", "uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailbox.id", ondelete="SET NULL"))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    #: Where the raw bytes are (helpdesk.storage, content-addressed).
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    #: stored, imported, duplicate, failed
    status: Mapped[str] = mapped_column(String(12), default="stored")
    error: Mapped[str | None] = mapped_column(String(2000))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    mailbox: Mapped[Mailbox | None] = relationship()
    message: Mapped[Message | None] = relationship()
