"""Stored files: content-addressed, and on disk before any commit that names them."""

from __future__ import annotations

import hashlib
import os

import pytest

from helpdesk import storage
from helpdesk.extensions import db


def pending() -> set:
    return set(db.session().info.get(storage._UNSYNCED, ()))


def test_identical_bytes_are_stored_once(app):
    first = storage.store(b"same bytes", limit=None)
    assert storage.store(b"same bytes", limit=None) == first
    assert storage.load(first) == b"same bytes"
    assert list(storage.path_for(first).parent.iterdir()) == [storage.path_for(first)]  # no temporary file left


def test_too_large_is_refused_before_writing(app):
    app.config["MAX_ATTACHMENT_BYTES"] = 10
    with pytest.raises(storage.AttachmentTooLarge):
        storage.store(b"x" * 11)
    assert pending() == set()


def test_a_commit_first_puts_the_transactions_files_on_disk(app):
    content = os.urandom(32)
    path = storage.path_for(hashlib.sha256(content).hexdigest())
    root = path.parents[2]
    made = [d for d in (root, path.parents[1], path.parent) if not d.is_dir()]  # other tests may have made some
    digest = storage.store(content, limit=None)
    assert storage.path_for(digest) == path
    # The file, the directory its name was written in, and each directory that gained a new directory.
    assert pending() == {path, path.parent} | {d.parent for d in made}
    again = storage.store(os.urandom(32), limit=None)
    assert storage.path_for(again) in pending()
    assert storage.store(content, limit=None) == digest  # already there: nothing more to sync
    db.session.commit()
    assert pending() == set()
    storage.store(b"a third file", limit=None)
    db.session.rollback()  # the file stays (content-addressed, harmless) and is synced by the next commit
    db.session.commit()
    assert pending() == set()


@pytest.mark.parametrize("count", [1, 2, 3, 100])
def test_sync_flushes_one_file_or_many(app, count, monkeypatch):
    """A few paths are fsync'd one by one; more go with one syncfs of their file system (on Linux)."""
    paths = {storage.path_for(storage.store(os.urandom(64), limit=None)) for _ in range(count)}
    fsynced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: fsynced.append(fd) or real_fsync(fd))
    storage.sync(paths)
    if count <= 2 or storage._syncfs is None:
        assert len(fsynced) == count
    else:
        assert fsynced == []


def test_a_missing_path_fails_the_sync(app, tmp_path):
    with pytest.raises(FileNotFoundError):
        storage.sync({tmp_path / "gone"})
