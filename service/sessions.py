"""Browser sessions of the diagnostic page: an API key exchanged once for a random session token, sent back
as an HttpOnly, SameSite=Strict cookie. Sessions live beside the keys (SQLite, by the SHA-256 of their token:
the token itself is only in the browser), so every worker process sees them and revoking a key (or its
expiry) ends them. Like the keys, a session look-up waits a fraction of a second for a lock, then answers
503 (`StoreUnavailable`)."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from service.keys import COLUMNS, ApiKey
from service.stores import SESSIONS, StoreHealth, StoreUnavailable, failure_kind, owner_only

COOKIE_NAME = "cma_session"


@dataclass(frozen=True)
class Session:
    """Who is signed in, and until when (seconds since the epoch)."""

    key: ApiKey
    expires_at: float


def _id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Sessions in the key store's SQLite file (table `sessions`)."""

    def __init__(
        self, keys_path: Path, ttl_seconds: int, busy_seconds: float = 5.0, health: StoreHealth | None = None
    ) -> None:
        owner_only(keys_path)
        self.path = keys_path
        self.ttl_seconds = ttl_seconds
        self.busy_seconds = busy_seconds
        self.health = health
        with self._connect(max(busy_seconds, 5.0)) as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, "
                "expires_at REAL NOT NULL)"
            )
        if health is not None:
            health.register(SESSIONS, self.probe)

    @contextmanager
    def _connect(self, busy_seconds: float | None = None) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction, closed after use; a SQLite failure becomes `StoreUnavailable`."""
        try:
            busy = self.busy_seconds if busy_seconds is None else busy_seconds
            con = sqlite3.connect(self.path, timeout=busy)
            try:
                with con:
                    yield con
            finally:
                con.close()
        except sqlite3.Error as err:
            kind = failure_kind(err)
            if self.health is not None:
                self.health.failed(SESSIONS, kind, f"{type(err).__name__}: {err}")
            raise StoreUnavailable(SESSIONS, kind) from err
        if self.health is not None:
            self.health.ok(SESSIONS)

    def probe(self) -> None:
        """Read the sessions table once (raises `StoreUnavailable` while it cannot be read)."""
        with self._connect() as con:
            con.execute("SELECT count(*) FROM sessions").fetchone()

    def open(self, key: ApiKey) -> str:
        """A new session for a verified key; returns its token."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self._connect() as con:
            con.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            con.execute(
                "INSERT INTO sessions VALUES (?, ?, ?)", (_id(token), key.key_id, now + self.ttl_seconds)
            )
        return token

    def get(self, token: str | None) -> Session | None:
        """The live session of a token (not expired, its key not revoked), if any."""
        if not token:
            return None
        with self._connect() as con:
            row = con.execute(
                f"SELECT {', '.join('k.' + c.strip() for c in COLUMNS.split(','))}, s.expires_at "
                "FROM sessions s JOIN api_keys k ON k.key_id = s.key_id "
                "WHERE s.token_hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL "
                "AND (k.expires_at IS NULL OR k.expires_at > ?)",
                (_id(token), time.time(), datetime.now(UTC).isoformat(timespec="seconds")),
            ).fetchone()
        return None if row is None else Session(ApiKey(*row[:6]), float(row[6]))

    def close(self, token: str | None) -> None:
        """Sign out."""
        if token:
            with self._connect() as con:
                con.execute("DELETE FROM sessions WHERE token_hash = ?", (_id(token),))
