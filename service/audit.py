"""Audit log of every scoring request (SQLite by default): who, what, which model, how many rows, outcome;
and of refused requests (401, 403, 429: route, status, key id when the key is known), rate-limited so that a
flood cannot fill the disk.

It holds key ids and chambers, never names, learner identifiers, submitted values or keys.

An entry that cannot be written never goes unseen: `record` raises `StoreUnavailable` (503 with
`Retry-After`) after at most `busy_seconds` of lock wait, or at once on a full disk or an I/O error, so that a
scoring request never answers 200 without its entry. A file deleted while serving is noticed at the next
write (the path no longer leads to the file opened): the file is recreated with the entries the deleted one
held, the event logged, counted and shown on /ready, and no entry goes to the deleted file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from service.stores import AUDIT, StoreHealth, StoreUnavailable, failure_kind, owner_only

logger = logging.getLogger(__name__)

# Seconds a client is told to wait, by failure kind (a lock clears fast, a full disk does not).
RETRY_AFTER = {"locked": 1, "full": 30, "io": 30, "unreadable": 30}
DENIED_PER_MINUTE = 60


@dataclass(frozen=True)
class AuditEntry:
    """One request."""

    key_id: str
    chamber: str
    route: str
    model: str
    version: str
    rows: int
    status: int
    latency_ms: float


class AuditLog:
    """Append-only request log.

    `busy_seconds`: the longest wait for another process's lock. `health`: where failures and incidents are
    recorded. `on_denied_dropped`: called for each refused-request entry not written because of the
    `denied_per_minute` budget (the app counts them).
    """

    def __init__(
        self,
        path: Path,
        busy_seconds: float = 0.5,
        health: StoreHealth | None = None,
        on_denied_dropped: Callable[[], None] | None = None,
        denied_per_minute: int = DENIED_PER_MINUTE,
    ) -> None:
        self.path = path
        self.busy_seconds = busy_seconds
        self.health = health
        self._on_denied_dropped = on_denied_dropped
        self._lock = threading.Lock()
        self._denied_capacity = float(denied_per_minute)
        self._denied_tokens = float(denied_per_minute)
        self._denied_at = time.monotonic()
        with self._lock:
            self._open()
        if health is not None:
            health.register(AUDIT, self.probe)

    def _open(self) -> None:
        owner_only(self.path)
        con = sqlite3.connect(self.path, check_same_thread=False, timeout=max(self.busy_seconds, 5.0))
        # WAL and NORMAL sync: an audit row costs no fsync of its own, and survives a process crash.
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute(
            "CREATE TABLE IF NOT EXISTS audit (at TEXT, key_id TEXT, chamber TEXT, route TEXT, model TEXT, "
            "version TEXT, rows INTEGER, status INTEGER, latency_ms REAL)"
        )
        con.commit()
        con.execute(f"PRAGMA busy_timeout={int(self.busy_seconds * 1000)}")
        self._con = con
        # A descriptor of our own on the file: after a deletion its link count tells a deleted file (0) from
        # one moved away by an operator (rotation: a fresh file is started, the moved one keeps its entries).
        self._fd = os.open(self.path, os.O_RDONLY)
        st = os.fstat(self._fd)
        self._identity = (st.st_dev, st.st_ino)

    def _same_file(self) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino) == self._identity

    def _reopen(self) -> None:
        """The path no longer leads to the file we write: recreate it (with the deleted file's entries) or
        open the one now there, and say so."""
        old_con, old_fd = self._con, self._fd
        deleted = os.fstat(old_fd).st_nlink == 0
        copy: Path | None = None
        entries = 0
        if deleted and not self.path.exists():
            entries = int(old_con.execute("SELECT count(*) FROM audit").fetchone()[0])
            copy = self.path.with_name(f".{self.path.name}.{os.getpid()}.recovered")
            copy.unlink(missing_ok=True)
            owner_only(copy)
            with closing(sqlite3.connect(copy)) as target:
                old_con.backup(target)
        old_con.close()  # its last write-ahead pages go to the old file, never to the new one
        os.close(old_fd)
        if copy is not None:
            if not self.path.exists():  # a stale -wal beside a new file would be read as the new file's
                for suffix in ("-wal", "-shm"):
                    self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            with suppress(FileExistsError):  # never over a file another worker recreated meanwhile
                os.link(copy, self.path)
            copy.unlink()
            what = f"deleted while serving: recreated with its {entries} entries"
        elif deleted:
            what = "deleted while serving: another process recreated it"
        else:
            what = "moved or replaced while serving: a new file is started at its path"
        self._open()
        logger.warning("audit log %s %s", self.path, what)
        if self.health is not None:
            self.health.incident(AUDIT, "deleted", f"{self.path}: {what}")

    def _write(self, at: str, entry: AuditEntry) -> None:
        # Threads of this process wait their turn here, not in SQLite's busy loop, and never longer than a
        # lock held by another process would make them wait: a locked log fails every request fast.
        if not self._lock.acquire(timeout=self.busy_seconds):
            if self.health is not None:
                self.health.failed(AUDIT, "locked", "audit writes queued past the busy timeout")
            raise StoreUnavailable(AUDIT, "locked", RETRY_AFTER.get("locked", 5))
        try:
            try:
                if not self._same_file():
                    self._reopen()
                self._con.execute(
                    "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        at,
                        entry.key_id,
                        entry.chamber,
                        entry.route,
                        entry.model,
                        entry.version,
                        entry.rows,
                        entry.status,
                        round(entry.latency_ms, 3),
                    ),
                )
                self._con.commit()
            except (sqlite3.Error, OSError) as err:
                with suppress(sqlite3.Error):
                    self._con.rollback()
                kind = failure_kind(err) if isinstance(err, sqlite3.Error) else "io"
                logger.error("audit entry not written (%s): %s", kind, type(err).__name__)
                if self.health is not None:
                    self.health.failed(AUDIT, kind, f"{type(err).__name__}: {err}")
                raise StoreUnavailable(AUDIT, kind, RETRY_AFTER.get(kind, 5)) from err
        finally:
            self._lock.release()
        if self.health is not None:
            self.health.ok(AUDIT)

    def probe(self) -> None:
        """Take and release the write lock (raises while the log is locked or its file gone). A full disk is
        only seen cleared by the next entry written."""
        state = self.health.failing().get(AUDIT) if self.health is not None else None
        if state is not None and state.failing != "locked":
            raise RuntimeError("only a lock clears without a write")
        with self._lock:
            if not self._same_file():
                raise FileNotFoundError(self.path)
            self._con.execute("BEGIN IMMEDIATE")
            self._con.rollback()

    def record(self, entry: AuditEntry) -> None:
        """Append one entry, or raise `StoreUnavailable` (503): blocking, call it from a worker thread."""
        self._write(datetime.now(UTC).isoformat(timespec="milliseconds"), entry)

    def record_denied(self, route: str, status: int, key_id: str = "", chamber: str = "") -> bool:
        """Append the entry of a refused request (never raises: the refusal stands whatever the audit does);
        beyond `denied_per_minute` entries a minute the entry is only counted. True when written."""
        now = time.monotonic()
        with self._lock:
            rate = self._denied_capacity / 60.0
            self._denied_tokens = min(
                self._denied_capacity, self._denied_tokens + (now - self._denied_at) * rate
            )
            self._denied_at = now
            allowed = self._denied_tokens >= 1
            if allowed:
                self._denied_tokens -= 1
        if not allowed:
            if self._on_denied_dropped is not None:
                self._on_denied_dropped()
            return False
        try:
            self.record(AuditEntry(key_id, chamber, route, "", "", 0, status, 0.0))
        except StoreUnavailable:
            return False
        return True

    def tail(self, limit: int = 100) -> list[tuple[object, ...]]:
        """The last entries, newest first."""
        with self._lock:
            return self._con.execute("SELECT * FROM audit ORDER BY rowid DESC LIMIT ?", (limit,)).fetchall()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._con.close()
            os.close(self._fd)
