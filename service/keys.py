"""API keys: created with a role, a chamber and an optional expiry, stored hashed (SHA-256) in the state
database (keys.db on SQLite, or the PostgreSQL database of `CMA_DATABASE_URL`), shown once.

The service checks a key against a short-lived cache first: a known key for `CACHE_SECONDS` (so a key
revoked from the CLI or another process, on this machine or another, stops working within that window), an
unknown one too (keyed by its hash, never the key, bounded in size), so that a flood of wrong keys does not
reach the database. A look-up that does reach it waits at most `busy_seconds` for a lock, then raises
`StoreUnavailable` (503): a locked keys.db or a PostgreSQL that does not answer never stalls the service.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.stores import (
    KEYS,
    StoreHealth,
    StoreTarget,
    StoreUnavailable,
    failure_kind,
    migrate,
    open_engine,
)

Role = Literal["agent", "advisor", "admin"]
ROLES: tuple[str, ...] = ("agent", "advisor", "admin")
PREFIX = "cma_"
CACHE_SECONDS = 5.0
NEGATIVE_CACHE_SECONDS = 5.0
NEGATIVE_CACHE_SIZE = 10_000
# After a failed look-up, answer 503 at once for this long instead of queueing more look-ups on the lock.
FAIL_FAST_SECONDS = 1.0
# Keys minted by `serve --admin-key` (revoked when the next one is minted, and at shutdown).
SERVE_ORIGIN = "serve"
COLUMNS = "key_id, role, chamber, created_at, revoked_at, expires_at"


@dataclass(frozen=True)
class ApiKey:
    """A key's public record (never the key itself)."""

    key_id: str
    role: str
    chamber: str
    created_at: str
    revoked_at: str | None
    expires_at: str | None = None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def expired(record: ApiKey, now: str | None = None) -> bool:
    """Whether the key's expiry has passed (ISO-8601 UTC dates compare as text)."""
    return record.expires_at is not None and record.expires_at <= (now or _now())


class KeyStore:
    """Key store on SQLAlchemy: a SQLite file (a `Path`), a database URL or an engine. The plain key is
    returned once by `create` and never stored.

    `busy_seconds`: how long a statement waits for another process's lock (the CLI waits a few seconds, the
    service a fraction of one). `health`: where the service records a failure (absent for the CLI).
    `migrated`: the caller already brought the database to the latest revision (the service, at start-up).
    """

    def __init__(
        self,
        path: StoreTarget,
        busy_seconds: float = 5.0,
        health: StoreHealth | None = None,
        migrated: bool = False,
    ) -> None:
        self.path = path
        self.busy_seconds = busy_seconds
        self.health = health
        if not migrated:
            migrate(path, KEYS)
        self.engine = open_engine(path, busy_seconds)
        if health is not None:
            health.register(KEYS, self.probe)
        self._cache: dict[str, tuple[ApiKey, float]] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._fail_until = 0.0
        self._fail_kind = "locked"

    def create(
        self, role: str, chamber: str, expires_in: timedelta | None = None, origin: str = "cli"
    ) -> tuple[str, ApiKey]:
        """A new key for `role` at `chamber`, valid for `expires_in` (None: until revoked): (the plain key,
        to show once; its record)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValueError("the expiry must be in the future")
        key_id = secrets.token_hex(6)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        created = datetime.now(UTC).replace(microsecond=0)
        expires = (created + expires_in).isoformat() if expires_in is not None else None
        record = ApiKey(key_id, role, chamber.strip(), created.isoformat(), None, expires)
        with self.engine.begin() as con:
            con.execute(
                text(
                    "INSERT INTO api_keys (key_id, key_hash, role, chamber, created_at, revoked_at, "
                    "expires_at, origin) VALUES (:id, :hash, :role, :chamber, :created, NULL, :expires, :origin)"
                ),
                {
                    "id": record.key_id,
                    "hash": _hash(key),
                    "role": record.role,
                    "chamber": record.chamber,
                    "created": record.created_at,
                    "expires": expires,
                    "origin": origin,
                },
            )
        return key, record

    def list(self) -> list[ApiKey]:
        """Every key's record, oldest first."""
        with self.engine.connect() as con:
            rows = con.execute(text(f"SELECT {COLUMNS} FROM api_keys ORDER BY created_at")).all()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by id; False when no active key has that id."""
        with self.engine.begin() as con:
            cur = con.execute(
                text("UPDATE api_keys SET revoked_at = :now WHERE key_id = :id AND revoked_at IS NULL"),
                {"now": _now(), "id": key_id},
            )
        self._cache.clear()
        return cur.rowcount > 0

    def revoke_origin(self, origin: str) -> int:
        """Revoke every active key minted by `origin` (the local admin keys of `serve`); how many."""
        with self.engine.begin() as con:
            cur = con.execute(
                text("UPDATE api_keys SET revoked_at = :now WHERE origin = :origin AND revoked_at IS NULL"),
                {"now": _now(), "origin": origin},
            )
        self._cache.clear()
        return cur.rowcount

    def probe(self) -> None:
        """Read the keys once (raises the driver's error while they cannot be read)."""
        with self.engine.connect() as con:
            con.execute(text("SELECT count(*) FROM api_keys")).one()
        self._fail_until = 0.0

    def cached(self, key: str | None) -> tuple[bool, ApiKey | None]:
        """(answered, record) without touching the database: a malformed key, a key seen a moment ago (known or
        unknown). `answered` False means the key must be looked up (`verify`, in a worker thread)."""
        if not key or not key.startswith(PREFIX):
            return True, None
        digest = _hash(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return True, hit[0]
        unknown = self._unknown.get(digest)
        if unknown is not None and unknown > now:
            return True, None
        return False, None

    def verify(self, key: str | None) -> ApiKey | None:
        """The active key's record, or None (unknown, malformed, revoked or expired). Blocking (a database
        read) when the key is not cached: call it from a worker thread. Raises `StoreUnavailable` when the
        keys cannot be read within the busy timeout."""
        answered, record = self.cached(key)
        if answered or key is None:
            return record
        digest = _hash(key)
        if time.monotonic() < self._fail_until:
            raise StoreUnavailable(KEYS, self._fail_kind)
        try:
            with self.engine.connect() as con:
                row = con.execute(
                    text(f"SELECT {COLUMNS} FROM api_keys WHERE key_hash = :hash"), {"hash": digest}
                ).first()
        except SQLAlchemyError as err:
            kind = self._fail_kind = failure_kind(err)
            self._fail_until = time.monotonic() + FAIL_FAST_SECONDS
            if self.health is not None:
                self.health.failed(KEYS, kind, f"{type(err).__name__}: {err}")
            raise StoreUnavailable(KEYS, kind) from err
        if self.health is not None:
            self.health.ok(KEYS)
        now = time.monotonic()
        found = None if row is None else ApiKey(*row)
        if found is None or found.revoked_at is not None or expired(found):
            with self._lock:
                self._unknown[digest] = now + NEGATIVE_CACHE_SECONDS
                self._unknown.move_to_end(digest)
                while len(self._unknown) > NEGATIVE_CACHE_SIZE:
                    self._unknown.popitem(last=False)
            return None
        until = now + CACHE_SECONDS
        if found.expires_at is not None:  # never trusted past its expiry
            left = (datetime.fromisoformat(found.expires_at) - datetime.now(UTC)).total_seconds()
            until = min(until, now + left)
        self._cache[digest] = (found, until)
        return found
