"""Audit log of every scoring request (SQLite by default): who, what, which model, how many rows, outcome.

It holds key ids and chambers, never names, learner identifiers or submitted values.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


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
    """Append-only request log."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(path, check_same_thread=False, timeout=10)
        self._lock = threading.Lock()
        with self._lock:
            # WAL and NORMAL sync: an audit row costs no fsync of its own, and survives a process crash.
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS audit (at TEXT, key_id TEXT, chamber TEXT, route TEXT, model TEXT, "
                "version TEXT, rows INTEGER, status INTEGER, latency_ms REAL)"
            )
            self._con.commit()

    def record(self, entry: AuditEntry) -> None:
        """Append one entry."""
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._lock:
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

    def tail(self, limit: int = 100) -> list[tuple[object, ...]]:
        """The last entries, newest first."""
        with self._lock:
            return self._con.execute("SELECT * FROM audit ORDER BY rowid DESC LIMIT ?", (limit,)).fetchall()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._con.close()
