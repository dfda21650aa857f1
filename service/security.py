"""Authentication (API keys), roles and per-key rate limiting."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

from service import messages
from service.keys import ApiKey

# Which roles may call which family of routes (admin may call everything).
ROLE_RIGHTS: dict[str, set[str]] = {
    "agent": {"agent", "any"},
    "advisor": {"advisor", "any"},
    "admin": {"agent", "advisor", "admin", "any"},
}


class RateLimitExceeded(Exception):
    """Raised when a key exceeds its budget; carries the seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token bucket per key: `per_minute` requests a minute, bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str) -> None:
        """Spend one token or raise `RateLimitExceeded` with the wait in seconds."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(key_id, _Bucket(self.capacity, now))
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens < 1:
                raise RateLimitExceeded(max(1, math.ceil((1 - bucket.tokens) / self.rate)))
            bucket.tokens -= 1


def require_role(role: str) -> Callable[[Request], Awaitable[ApiKey]]:
    """Dependency: the caller's key: valid (else 401), allowed for `role` (403), within its rate (429).
    Async: a cached look-up (SQLite at most every few seconds) needs no worker thread."""

    async def dependency(request: Request) -> ApiKey:
        state = request.app.state
        key = state.keys.verify(request.headers.get("X-API-Key"))
        if key is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, messages.MISSING_KEY)
        if role not in ROLE_RIGHTS.get(key.role, set()):
            raise HTTPException(status.HTTP_403_FORBIDDEN, messages.FORBIDDEN)
        state.rate_limiter.check(key.key_id)
        request.state.api_key = key
        return key

    return dependency
