"""Browser sessions of the diagnostic page: an API key exchanged once for a random session token, sent back
as an HttpOnly, SameSite=Strict cookie. Sessions live beside the keys (keys.db, or the PostgreSQL database
of `CMA_DATABASE_URL`; by the SHA-256 of their token: the token itself is only in the browser), so every
worker process, on every machine, sees them and revoking a key (or its expiry) ends them at once (a
session look-up is never cached). Like the keys, a session look-up waits a fraction of a second for a lock,
then answers 503 (`StoreUnavailable`)."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from service.keys import COLUMNS, ApiKey
from service.stores import (
    SESSIONS,
    StoreHealth,
    StoreTarget,
    StoreUnavailable,
    failure_kind,
    migrate,
    open_engine,
)

COOKIE_NAME = "cma_session"


@dataclass(frozen=True)
class Session:
    """Who is signed in, and until when (seconds since the epoch)."""

    key: ApiKey
    expires_at: float


def _id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Sessions in the key store's database (table `sessions`): a SQLite file (a `Path`), a URL or an
    engine. `migrated`: the caller already brought the database to the latest revision."""

    def __init__(
        self,
        keys_path: StoreTarget,
        ttl_seconds: int,
        busy_seconds: float = 5.0,
        health: StoreHealth | None = None,
        migrated: bool = False,
    ) -> None:
        self.path = keys_path
        self.ttl_seconds = ttl_seconds
        self.busy_seconds = busy_seconds
        self.health = health
        if not migrated:
            migrate(keys_path, SESSIONS)
        self.engine = open_engine(keys_path, busy_seconds)
        if health is not None:
            health.register(SESSIONS, self.probe)

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A connection in a transaction (committed on success); a failure becomes `StoreUnavailable`."""
        try:
            with self.engine.begin() as con:
                yield con
        except SQLAlchemyError as err:
            kind = failure_kind(err)
            if self.health is not None:
                self.health.failed(SESSIONS, kind, f"{type(err).__name__}: {err}")
            raise StoreUnavailable(SESSIONS, kind) from err
        if self.health is not None:
            self.health.ok(SESSIONS)

    def probe(self) -> None:
        """Read the sessions table once (raises `StoreUnavailable` while it cannot be read)."""
        with self._connect() as con:
            con.execute(text("SELECT count(*) FROM sessions")).one()

    def open(self, key: ApiKey) -> str:
        """A new session for a verified key; returns its token."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self._connect() as con:
            con.execute(text("DELETE FROM sessions WHERE expires_at <= :now"), {"now": now})
            con.execute(
                text("INSERT INTO sessions (token_hash, key_id, expires_at) VALUES (:token, :key, :until)"),
                {"token": _id(token), "key": key.key_id, "until": now + self.ttl_seconds},
            )
        return token

    def get(self, token: str | None) -> Session | None:
        """The live session of a token (not expired, its key not revoked), if any."""
        if not token:
            return None
        with self._connect() as con:
            row = con.execute(
                text(
                    f"SELECT {', '.join('k.' + c.strip() for c in COLUMNS.split(','))}, s.expires_at "
                    "FROM sessions s JOIN api_keys k ON k.key_id = s.key_id "
                    "WHERE s.token_hash = :token AND s.expires_at > :now AND k.revoked_at IS NULL "
                    "AND (k.expires_at IS NULL OR k.expires_at > :today)"
                ),
                {
                    "token": _id(token),
                    "now": time.time(),
                    "today": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            ).first()
        return None if row is None else Session(ApiKey(*row[:6]), float(row[6]))

    def close(self, token: str | None) -> None:
        """Sign out."""
        if token:
            with self._connect() as con:
                con.execute(text("DELETE FROM sessions WHERE token_hash = :token"), {"token": _id(token)})
