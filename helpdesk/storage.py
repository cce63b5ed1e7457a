"""Store attachment bytes on disk, addressed by their SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from flask import current_app


class AttachmentTooLarge(ValueError):
    """A file over the configured size limit."""


def _root() -> Path:
    return Path(current_app.config["ATTACHMENT_DIR"])


def path_for(sha256: str) -> Path:
    """Return where the file with this digest lives."""
    return _root() / sha256[:2] / sha256[2:4] / sha256


_DEFAULT = object()


def store(data: bytes, limit=_DEFAULT) -> str:
    """Write ``data`` once (identical files share one copy) and return its digest.

    ``limit`` defaults to the attachment size limit; None stores any size (raw email).
    """
    if limit is _DEFAULT:
        limit = current_app.config["MAX_ATTACHMENT_BYTES"]
    if limit is not None and len(data) > limit:
        raise AttachmentTooLarge(f"file is {len(data)} bytes; the limit is {limit}")
    digest = hashlib.sha256(data).hexdigest()
    target = path_for(digest)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a crash never leaves half a file under its digest.
        fd, tmp = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    return digest


def load(sha256: str) -> bytes:
    """Return the bytes stored under ``sha256``."""
    return path_for(sha256).read_bytes()
