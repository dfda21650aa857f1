"""API keys: created with a role and a chamber, stored hashed (SHA-256) in SQLite, shown once."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

Role = Literal["agent", "advisor", "admin"]
ROLES: tuple[str, ...] = ("agent", "advisor", "admin")
PREFIX = "cma_"
CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class ApiKey:
    """A key's public record (never the key itself)."""

    key_id: str
    role: str
    chamber: str
    created_at: str
    revoked_at: str | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """SQLite-backed key store. The plain key is returned once by `create` and never stored."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, key_hash TEXT UNIQUE NOT NULL, "
                "role TEXT NOT NULL, chamber TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)"
            )
        self._cache: dict[str, tuple[ApiKey, float]] = {}

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def create(self, role: str, chamber: str) -> tuple[str, ApiKey]:
        """A new key for `role` at `chamber`: (the plain key, to show once; its record)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        key_id = secrets.token_hex(6)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        record = ApiKey(key_id, role, chamber.strip(), datetime.now(UTC).isoformat(timespec="seconds"), None)
        with self._connect() as con:
            con.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
                (record.key_id, _hash(key), record.role, record.chamber, record.created_at),
            )
        return key, record

    def list(self) -> list[ApiKey]:
        """Every key's record, oldest first."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT key_id, role, chamber, created_at, revoked_at FROM api_keys ORDER BY created_at"
            ).fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by id; False when no active key has that id."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._connect() as con:
            cur = con.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (now, key_id)
            )
        self._cache.clear()
        return cur.rowcount > 0

    def verify(self, key: str | None) -> ApiKey | None:
        """The active key's record, or None (unknown, malformed or revoked)."""
        if not key or not key.startswith(PREFIX):
            return None
        digest = _hash(key)
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        with self._connect() as con:
            row = con.execute(
                "SELECT key_id, role, chamber, created_at, revoked_at FROM api_keys WHERE key_hash = ?",
                (digest,),
            ).fetchone()
        if row is None or row[4] is not None:
            return None
        record = ApiKey(*row)
        # Kept a few seconds only: a key revoked from the CLI (another process) stops working promptly.
        self._cache[digest] = (record, time.monotonic() + CACHE_SECONDS)
        return record
