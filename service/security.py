"""Authentication (API keys), roles, and rate limits shared by every worker process.

The limits are token buckets in one SQLite file beside keys.db (WAL, one short transaction per request, off
the event loop), so that N worker processes give the limit once, not N times:
- per key: `rate_limit_per_minute` requests a minute, bursts up to the same number;
- per client address: `auth_failures_per_minute` failed authentications (no key, an unknown, revoked or
  expired key), beyond which the address's failures answer 429 (with Retry-After) instead of 401;
- per client address: `sign_in_attempts_per_minute` sign-in attempts of the diagnostic page
  (`limit_sign_in`, for its POST /diagnostic/connexion).
Addresses are kept as a hash, never in clear. Every 401, 403 and 429 leaves an audit entry (route template,
status, key id when the key is known; never the submitted key), itself rate-limited by the audit log.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import HTTPException, Request, status

from service import messages
from service.keys import ApiKey
from service.stores import RATE_LIMIT, StoreHealth, StoreUnavailable, failure_kind, owner_only

# Which roles may call which family of routes (admin may call everything).
ROLE_RIGHTS: dict[str, set[str]] = {
    "agent": {"agent", "any"},
    "advisor": {"advisor", "any"},
    "admin": {"agent", "advisor", "admin", "any"},
}
PRUNE_EVERY = 1000  # transactions between two purges of idle buckets
IDLE_SECONDS = 3600.0


class RateLimitExceeded(Exception):
    """Raised when a key or an address exceeds its budget; carries the seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class RateLimiter:
    """Token buckets in SQLite, shared by the processes serving the same keys.db.

    `per_minute`: the per-key budget of `check`; `take` serves any other bucket. `busy_seconds`: the longest
    wait for another process's transaction (they last microseconds; beyond it the store is failing: 503).
    """

    def __init__(
        self, path: Path, per_minute: int, busy_seconds: float = 0.25, health: StoreHealth | None = None
    ) -> None:
        owner_only(path)
        self.path = path
        self.per_minute = per_minute
        self.busy_seconds = busy_seconds
        self.health = health
        self._local = threading.local()
        self._turn = threading.Lock()
        self._count = 0
        con = self._connection()
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(
            "CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, tokens REAL NOT NULL, "
            "updated REAL NOT NULL) WITHOUT ROWID"
        )
        if health is not None:
            health.register(RATE_LIMIT, self.probe)

    def _connection(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:  # one connection per worker thread, kept (opening one costs more than a check)
            con = sqlite3.connect(self.path, timeout=max(self.busy_seconds, 0.01), isolation_level=None)
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def take(self, name: str, per_minute: int, spend: bool = True) -> int | None:
        """Spend one token of bucket `name` (capacity and refill `per_minute`); None when allowed, else the
        seconds to wait. `spend=False` only asks whether a token is left. Blocking: a worker thread's job."""
        capacity, rate = float(per_minute), per_minute / 60.0
        # This process's threads take turns here (SQLite's busy loop would let one starve past the busy
        # timeout under load); only another process's transaction is waited for in SQLite.
        if not self._turn.acquire(timeout=self.busy_seconds):
            if self.health is not None:
                self.health.failed(RATE_LIMIT, "locked", "rate-limit checks queued past the busy timeout")
            raise StoreUnavailable(RATE_LIMIT, "locked")
        try:
            return self._take(name, capacity, rate, spend)
        finally:
            self._turn.release()

    def _take(self, name: str, capacity: float, rate: float, spend: bool) -> int | None:
        now = time.time()
        con = self._connection()
        try:
            con.execute("BEGIN IMMEDIATE" if spend else "BEGIN")
            try:
                row = con.execute("SELECT tokens, updated FROM buckets WHERE name = ?", (name,)).fetchone()
                tokens = capacity if row is None else min(capacity, row[0] + max(0.0, now - row[1]) * rate)
                wait = None if tokens >= 1 else max(1, math.ceil((1 - tokens) / rate))
                if spend:
                    left = tokens - 1 if wait is None else tokens
                    con.execute(
                        "INSERT INTO buckets VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                        "tokens = excluded.tokens, updated = excluded.updated",
                        (name, left, now),
                    )
                    self._count += 1
                    if self._count % PRUNE_EVERY == 0:
                        con.execute("DELETE FROM buckets WHERE updated < ?", (now - IDLE_SECONDS,))
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        except sqlite3.Error as err:
            kind = failure_kind(err)
            if self.health is not None:
                self.health.failed(RATE_LIMIT, kind, f"{type(err).__name__}: {err}")
            raise StoreUnavailable(RATE_LIMIT, kind) from err
        if self.health is not None:
            self.health.ok(RATE_LIMIT)
        return wait

    def probe(self) -> None:
        """Read the buckets once (raises `StoreUnavailable` while they cannot be read)."""
        self.take("probe", 1, spend=False)

    def check(self, key_id: str) -> None:
        """Spend one request of the key's budget or raise `RateLimitExceeded` with the wait in seconds."""
        wait = self.take(f"key:{key_id}", self.per_minute)
        if wait is not None:
            raise RateLimitExceeded(wait)


def _address(request: Request) -> str:
    """The client's address as a hash (an address is personal data: it is never stored in clear)."""
    host = request.client.host if request.client else "unknown"
    return hashlib.sha256(host.encode()).hexdigest()[:24]


def _route(request: Request) -> str:
    """The matched route's template (never a submitted path segment), else the path."""
    return str(getattr(request.scope.get("route"), "path", request.url.path))


def _deny(state: Any, request: Request, code: int, key: ApiKey | None = None) -> None:
    audit = getattr(state, "audit", None)
    if audit is not None:
        audit.record_denied(_route(request), code, key.key_id if key else "", key.chamber if key else "")


def record_refusal(request: Request, code: int, key: ApiKey | None = None) -> None:
    """Audit a refused request (401, 403, 429) of a route that checks access itself (the advisors' page):
    the route's template, the status and the key id when known. Blocking (SQLite)."""
    _deny(request.app.state, request, code, key)


def spend(request: Request, key: ApiKey) -> None:
    """Spend one request of `key`'s budget; `RateLimitExceeded` (429, audited) beyond it. Blocking."""
    try:
        request.app.state.rate_limiter.check(key.key_id)
    except RateLimitExceeded:
        _deny(request.app.state, request, status.HTTP_429_TOO_MANY_REQUESTS, key)
        raise


def _failed_authentication(state: Any, request: Request, address: str) -> HTTPException:
    """Count a failed authentication against the address: 401, or 429 beyond its budget."""
    wait = state.rate_limiter.take(f"auth:{address}", state.settings.auth_failures_per_minute)
    if wait is not None:
        _deny(state, request, status.HTTP_429_TOO_MANY_REQUESTS)
        raise RateLimitExceeded(wait)
    _deny(state, request, status.HTTP_401_UNAUTHORIZED)
    return HTTPException(status.HTTP_401_UNAUTHORIZED, messages.MISSING_KEY)


def authenticate(request: Request, role: str) -> ApiKey:
    """The caller's key: valid (else 401, or 429 once the address has failed too often), allowed for `role`
    (403), within its rate (429). Blocking (SQLite): run it in a worker thread.

    A valid key is never refused for its address's failures (a chamber's agents may share one address behind
    a NAT): the look-up of an unknown key is one indexed read, off the event loop, and the same wrong key
    sent again is answered from the negative cache."""
    state = request.app.state
    key = state.keys.verify(request.headers.get("X-API-Key"))
    if key is None:
        raise _failed_authentication(state, request, _address(request))
    if role not in ROLE_RIGHTS.get(key.role, set()):
        _deny(state, request, status.HTTP_403_FORBIDDEN, key)
        raise HTTPException(status.HTTP_403_FORBIDDEN, messages.FORBIDDEN)
    spend(request, key)
    return key


def limit_sign_in(request: Request) -> None:
    """Spend one sign-in attempt of the client's address (`sign_in_attempts_per_minute`); raises
    `RateLimitExceeded` (429, audited) beyond it. Blocking (SQLite): call it from a plain `def` route, first
    thing in POST /diagnostic/connexion."""
    state = request.app.state
    wait = state.rate_limiter.take(f"sign-in:{_address(request)}", state.settings.sign_in_attempts_per_minute)
    if wait is not None:
        _deny(state, request, status.HTTP_429_TOO_MANY_REQUESTS)
        raise RateLimitExceeded(wait)


async def off_loop(request: Request, function: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking store call in a worker thread of the stores' own pool (so that a full pool of scoring
    requests never delays a key check, and a key check never blocks the event loop)."""
    limiter = getattr(request.app.state, "store_limiter", None)
    return await anyio.to_thread.run_sync(function, *args, limiter=limiter)


def require_role(role: str) -> Callable[[Request], Awaitable[ApiKey]]:
    """Dependency: the caller's key (see `authenticate`), checked in a worker thread."""

    async def dependency(request: Request) -> ApiKey:
        key: ApiKey = await off_loop(request, authenticate, request, role)
        request.state.api_key = key
        return key

    return dependency
