"""Browser sessions of the diagnostic page: an API key exchanged once for a random session token, sent back
as an HttpOnly, SameSite=Strict cookie. Sessions live beside the keys (SQLite, by the SHA-256 of their token:
the token itself is only in the browser), so every worker process sees them and revoking a key ends them."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from service.keys import ApiKey

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

    def __init__(self, keys_path: Path, ttl_seconds: int) -> None:
        self.path = keys_path
        self.ttl_seconds = ttl_seconds
        with self._connect() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, "
                "expires_at REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

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
                "SELECT k.key_id, k.role, k.chamber, k.created_at, k.revoked_at, s.expires_at "
                "FROM sessions s JOIN api_keys k ON k.key_id = s.key_id "
                "WHERE s.token_hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL",
                (_id(token), time.time()),
            ).fetchone()
        return None if row is None else Session(ApiKey(*row[:5]), float(row[5]))

    def close(self, token: str | None) -> None:
        """Sign out."""
        if token:
            with self._connect() as con:
                con.execute("DELETE FROM sessions WHERE token_hash = ?", (_id(token),))
