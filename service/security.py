"""Authentication (API keys), roles, and rate limits shared by every worker process.

The limits are counters per name and one-minute window in the state database (ratelimit.db beside keys.db,
or the PostgreSQL database of `CMA_DATABASE_URL`): one atomic UPSERT per request, off the event loop, so that
N worker processes, on one machine or several, give the limit once, not N times. A sliding window: the
previous minute's count weighs as much as that minute still overlaps the last 60 s, so that no burst gets
twice the budget across a minute's edge; refused requests are not counted:
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
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from fastapi import HTTPException, Request, status
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service import messages
from service.keys import ApiKey
from service.stores import (
    RATE_LIMIT,
    StoreHealth,
    StoreTarget,
    StoreUnavailable,
    failure_kind,
    is_sqlite,
    migrate,
    open_engine,
)

# Which roles may call which family of routes (admin may call everything).
ROLE_RIGHTS: dict[str, set[str]] = {
    "agent": {"agent", "any"},
    "advisor": {"advisor", "any"},
    "admin": {"agent", "advisor", "admin", "any"},
}
PRUNE_EVERY = 1000  # counts between two purges of past windows
WINDOW_SECONDS = 60
PREVIOUS_CACHE_SIZE = 100_000
# One statement for SQLite (>= 3.35) and PostgreSQL: count one hit in the current window unless the window
# already holds `allowed` hits; RETURNING gives the count, no row means refused (nothing written).
COUNT = text(
    "INSERT INTO rate_windows (name, window_start, hits) VALUES (:name, :start, 1) "
    "ON CONFLICT (name, window_start) DO UPDATE SET hits = rate_windows.hits + 1 "
    "WHERE rate_windows.hits < :allowed RETURNING hits"
)
HITS = text("SELECT hits FROM rate_windows WHERE name = :name AND window_start = :start")
PRUNE = text("DELETE FROM rate_windows WHERE window_start < :before")


class RateLimitExceeded(Exception):
    """Raised when a key or an address exceeds its budget; carries the seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class RateLimiter:
    """Sliding-window counters in the state database, shared by every process serving it.

    `per_minute`: the per-key budget of `check`; `take` serves any other name. `busy_seconds`: the longest
    wait for another process's transaction (they last microseconds; beyond it the store is failing: 503).
    `migrated`: the caller already brought the database to the latest revision.
    """

    def __init__(
        self,
        path: StoreTarget,
        per_minute: int,
        busy_seconds: float = 0.25,
        health: StoreHealth | None = None,
        migrated: bool = False,
    ) -> None:
        self.path = path
        self.per_minute = per_minute
        self.busy_seconds = busy_seconds
        self.health = health
        if not migrated:
            migrate(path, RATE_LIMIT)
        self.engine = open_engine(path, busy_seconds, wal=True)
        self._sqlite = is_sqlite(self.engine)
        self._turn = threading.Lock()
        self._count = 0
        # The previous window's count of each name, read once per window (that window no longer changes).
        self._previous: dict[str, int] = {}
        self._previous_start = 0
        if health is not None:
            health.register(RATE_LIMIT, self.probe)

    def take(self, name: str, per_minute: int, spend: bool = True) -> int | None:
        """Count one request of `name` against `per_minute`; None when allowed, else the seconds to wait.
        `spend=False` only asks whether one is left. Blocking: a worker thread's job."""
        if not self._sqlite:  # PostgreSQL queues the writers of one row itself, within lock_timeout
            return self._guarded(name, per_minute, spend)
        # This process's threads take turns here (SQLite's busy loop would let one starve past the busy
        # timeout under load); only another process's transaction is waited for in SQLite.
        if not self._turn.acquire(timeout=self.busy_seconds):
            if self.health is not None:
                self.health.failed(RATE_LIMIT, "locked", "rate-limit checks queued past the busy timeout")
            raise StoreUnavailable(RATE_LIMIT, "locked")
        try:
            return self._guarded(name, per_minute, spend)
        finally:
            self._turn.release()

    def _guarded(self, name: str, per_minute: int, spend: bool) -> int | None:
        try:
            wait = self._take(name, per_minute, spend)
        except SQLAlchemyError as err:
            kind = failure_kind(err)
            if self.health is not None:
                self.health.failed(RATE_LIMIT, kind, f"{type(err).__name__}: {err}")
            raise StoreUnavailable(RATE_LIMIT, kind) from err
        if self.health is not None:
            self.health.ok(RATE_LIMIT)
        return wait

    def _take(self, name: str, per_minute: int, spend: bool) -> int | None:
        now = time.time()
        start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        overlap = 1.0 - (now - start) / WINDOW_SECONDS  # how much of the previous window is in the last 60 s
        with self.engine.begin() as con:
            previous = self._previous_hits(con, name, start)
            allowed = math.floor(per_minute - previous * overlap)
            hits: int | None = None
            if spend and allowed >= 1:
                hits = con.execute(COUNT, {"name": name, "start": start, "allowed": allowed}).scalar()
                self._count += 1
                if self._count % PRUNE_EVERY == 0:
                    con.execute(PRUNE, {"before": start - WINDOW_SECONDS})
            if hits is not None:
                return None
            current = con.execute(HITS, {"name": name, "start": start}).scalar() or 0
        if not spend and current < allowed:
            return None
        return _wait(now, start, previous, current, per_minute)

    def _previous_hits(self, con: Any, name: str, start: int) -> int:
        if start != self._previous_start or len(self._previous) > PREVIOUS_CACHE_SIZE:
            self._previous, self._previous_start = {}, start
        hits = self._previous.get(name)
        if hits is None:
            hits = int(con.execute(HITS, {"name": name, "start": start - WINDOW_SECONDS}).scalar() or 0)
            self._previous[name] = hits
        return hits

    def probe(self) -> None:
        """Read the counters once (raises `StoreUnavailable` while they cannot be read)."""
        self.take("probe", 1, spend=False)

    def check(self, key_id: str) -> None:
        """Spend one request of the key's budget or raise `RateLimitExceeded` with the wait in seconds."""
        wait = self.take(f"key:{key_id}", self.per_minute)
        if wait is not None:
            raise RateLimitExceeded(wait)


def _wait(now: float, start: int, previous: int, current: int, per_minute: int) -> int:
    """Seconds until one more request fits: when the previous window's weight has decayed enough within
    this window, else into the next one (where this window's count becomes the weighed one)."""
    room = per_minute - current - 1
    if previous > 0 and room >= 0:
        at = start + (1.0 - room / previous) * WINDOW_SECONDS
    else:
        at = start + WINDOW_SECONDS + max(0.0, 1.0 - (per_minute - 1) / max(current, 1)) * WINDOW_SECONDS
    return max(1, math.ceil(at - now))


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
    the route's template, the status and the key id when known. Blocking (a database write)."""
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
    (403), within its rate (429). Blocking (database): run it in a worker thread.

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
    `RateLimitExceeded` (429, audited) beyond it. Blocking (database): call it from a plain `def` route, first
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
