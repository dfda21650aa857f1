"""Audit log of every scoring request (audit.db by default, the PostgreSQL database of `CMA_DATABASE_URL`
when set: one trail for every worker and machine): who, what, which model, how many rows, outcome;
and of refused requests (401, 403, 429: route, status, key id when the key is known), rate-limited so that a
flood cannot fill the disk.

It holds key ids and chambers, never names, learner identifiers, submitted values or keys.

An entry that cannot be written never goes unseen: `record` raises `StoreUnavailable` (503 with
`Retry-After`) after at most `busy_seconds` of lock wait, or at once on a full disk or an I/O error, so that a
scoring request never answers 200 without its entry. A file deleted while serving is noticed at the next
write (the path no longer leads to the file opened): the file is recreated with the entries the deleted one
held, the event logged, counted and shown on /ready, and no entry goes to the deleted file. That recovery is
the SQLite backend's; on PostgreSQL a failed write is a 503 like any other.
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

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from service.stores import (
    AUDIT,
    StoreHealth,
    StoreTarget,
    StoreUnavailable,
    database_url,
    failure_kind,
    migrate,
    open_engine,
    owner_only,
)

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


INSERT = text(
    "INSERT INTO audit (at, key_id, chamber, route, model, version, rows, status, latency_ms) "
    "VALUES (:at, :key_id, :chamber, :route, :model, :version, :rows, :status, :latency_ms)"
)
ENTRY_COLUMNS = "at, key_id, chamber, route, model, version, rows, status, latency_ms"


class AuditLog:
    """Append-only request log on a SQLite file (a `Path`), a database URL or an engine.

    `busy_seconds`: the longest wait for another process's lock. `health`: where failures and incidents are
    recorded. `on_denied_dropped`: called for each refused-request entry not written because of the
    `denied_per_minute` budget (the app counts them). `migrated`: the caller already brought the database to
    the latest revision.
    """

    def __init__(
        self,
        path: StoreTarget,
        busy_seconds: float = 0.5,
        health: StoreHealth | None = None,
        on_denied_dropped: Callable[[], None] | None = None,
        denied_per_minute: int = DENIED_PER_MINUTE,
        migrated: bool = False,
    ) -> None:
        self.busy_seconds = busy_seconds
        self.health = health
        self._on_denied_dropped = on_denied_dropped
        self._lock = threading.Lock()
        self._denied_capacity = float(denied_per_minute)
        self._denied_tokens = float(denied_per_minute)
        self._denied_at = time.monotonic()
        url = (
            path.url.render_as_string(hide_password=False) if isinstance(path, Engine) else database_url(path)
        )
        self.sqlite = url.startswith("sqlite")
        # SQLite: one kept connection on the file, whose identity is watched (deletion recovery).
        self.path = Path(url.split(":///", 1)[1]) if self.sqlite else Path()
        self.url = url
        if not migrated and not self.sqlite:  # a SQLite file is migrated each time it is opened
            migrate(path, AUDIT)
        self._engine: Engine | None = None if self.sqlite else open_engine(path, busy_seconds)
        if self.sqlite:
            with self._lock:
                self._open()
        if health is not None:
            health.register(AUDIT, self.probe)

    def _open(self) -> None:
        migrate(self.path, AUDIT)  # a file recreated by another process, or moved away: brought up to date
        owner_only(self.path)
        engine = create_engine(
            f"sqlite+pysqlite:///{self.path}",
            poolclass=StaticPool,
            connect_args={"timeout": self.busy_seconds, "check_same_thread": False},
        )
        con = engine.connect()
        raw = con.connection.dbapi_connection
        assert raw is not None
        # WAL and NORMAL sync: an audit row costs no fsync of its own, and survives a process crash.
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        self._sqlite_engine, self._con = engine, con
        # A descriptor of our own on the file: after a deletion its link count tells a deleted file (0) from
        # one moved away by an operator (rotation: a fresh file is started, the moved one keeps its entries).
        self._fd = os.open(self.path, os.O_RDONLY)
        st = os.fstat(self._fd)
        self._identity = (st.st_dev, st.st_ino)

    def _raw(self) -> sqlite3.Connection:
        raw = self._con.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        return raw

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
            entries = int(self._raw().execute("SELECT count(*) FROM audit").fetchone()[0])
            copy = self.path.with_name(f".{self.path.name}.{os.getpid()}.recovered")
            copy.unlink(missing_ok=True)
            owner_only(copy)
            with closing(sqlite3.connect(copy)) as target:
                self._raw().backup(target)
        old_con.close()
        self._sqlite_engine.dispose()  # its last write-ahead pages go to the old file, never to the new one
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

    def _insert(self, con: Connection, at: str, entry: AuditEntry) -> None:
        con.execute(
            INSERT,
            {
                "at": at,
                "key_id": entry.key_id,
                "chamber": entry.chamber,
                "route": entry.route,
                "model": entry.model,
                "version": entry.version,
                "rows": entry.rows,
                "status": entry.status,
                "latency_ms": round(entry.latency_ms, 3),
            },
        )

    def _failed(self, err: BaseException) -> StoreUnavailable:
        kind = "io" if isinstance(err, OSError) else failure_kind(err)
        logger.error("audit entry not written (%s): %s", kind, type(err).__name__)
        if self.health is not None:
            self.health.failed(AUDIT, kind, f"{type(err).__name__}: {err}")
        return StoreUnavailable(AUDIT, kind, RETRY_AFTER.get(kind, 5))

    def _write(self, at: str, entry: AuditEntry) -> None:
        if self._engine is not None:  # a server database: its pool and lock_timeout bound the wait
            try:
                with self._engine.begin() as con:
                    self._insert(con, at, entry)
            except SQLAlchemyError as err:
                raise self._failed(err) from err
            if self.health is not None:
                self.health.ok(AUDIT)
            return
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
                self._insert(self._con, at, entry)
                self._con.commit()
            except (SQLAlchemyError, sqlite3.Error, OSError) as err:
                with suppress(SQLAlchemyError, sqlite3.Error):
                    self._con.rollback()
                raise self._failed(err) from err
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
        if self._engine is not None:
            with self._engine.begin() as con:
                con.execute(text("LOCK TABLE audit IN ROW EXCLUSIVE MODE"))
            return
        with self._lock:
            if not self._same_file():
                raise FileNotFoundError(self.path)
            raw = self._raw()
            if raw.in_transaction:
                raw.rollback()
            raw.execute("BEGIN IMMEDIATE")
            raw.rollback()

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
        query = text(
            f"SELECT {ENTRY_COLUMNS} FROM audit ORDER BY {'rowid' if self.sqlite else 'id'} DESC LIMIT :n"
        )
        if self._engine is not None:
            with self._engine.connect() as con:
                return [tuple(row) for row in con.execute(query, {"n": limit})]
        with self._lock:
            rows = [tuple(row) for row in self._con.execute(query, {"n": limit})]
            self._con.rollback()
            return rows

    def close(self) -> None:
        """Close the database."""
        if self._engine is not None:
            self._engine.dispose()
            return
        with self._lock:
            self._con.close()
            self._sqlite_engine.dispose()
            os.close(self._fd)
