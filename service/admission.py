"""Admission of scoring work: how much runs at once, and stopping work nobody waits for.

- Per key: at most `max_concurrent_per_key` requests of one key are scored at once; the others wait their
  turn (up to `admission_wait_seconds`, then 429), so one heavy client cannot take every core.
- Large requests (a body over `large_request_bytes`, about 100 records): at most `max_concurrent_large`
  of them are scored at once across all keys (by default one core fewer than the machine has), so a
  1-record request always finds a core, whatever the large ones do.
- A client that goes away: `watch_disconnect` sets an event the scoring thread looks at between chunks
  (`service.scoring.score_rows`), so an abandoned 10,000-record request stops instead of computing on.

The bounds are per worker process (each has its own cores' share); the rate limit is the cross-process one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import HTTPException, Request, status

TOO_MANY_AT_ONCE = (
    "Trop de requêtes simultanées pour cette clé : attendez la fin des précédentes (voir Retry-After)."
)


@dataclass
class _KeySlots:
    semaphore: asyncio.Semaphore
    users: int = 0


@dataclass
class Admission:
    """The per-key and large-request bounds of one worker process (asyncio primitives: event loop only)."""

    per_key: int
    large: int
    large_bytes: int
    wait_seconds: float
    _keys: dict[str, _KeySlots] = field(default_factory=dict)
    _large: asyncio.Semaphore | None = None

    @contextlib.asynccontextmanager
    async def slot(self, key_id: str, body_bytes: int) -> AsyncIterator[None]:
        """Hold a slot of `key_id` (and a large slot for a large body) while the request is scored."""
        slots = self._keys.setdefault(key_id, _KeySlots(asyncio.Semaphore(self.per_key)))
        slots.users += 1
        try:
            async with contextlib.AsyncExitStack() as held:
                await self._acquire(slots.semaphore)
                held.push_async_callback(_release, slots.semaphore)
                if body_bytes > self.large_bytes:
                    if self._large is None:
                        self._large = asyncio.Semaphore(self.large)
                    await self._acquire(self._large)
                    held.push_async_callback(_release, self._large)
                yield
        finally:
            slots.users -= 1
            if slots.users == 0:  # no request of this key in flight or waiting: forget it
                self._keys.pop(key_id, None)

    async def _acquire(self, semaphore: asyncio.Semaphore) -> None:
        try:
            await asyncio.wait_for(semaphore.acquire(), self.wait_seconds)
        except TimeoutError as err:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                TOO_MANY_AT_ONCE,
                headers={"Retry-After": str(max(1, round(self.wait_seconds)))},
            ) from err


async def _release(semaphore: asyncio.Semaphore) -> None:
    semaphore.release()


def admission_of(request: Request) -> Admission:
    """The app's admission bounds, made from its settings on first use (in the event loop)."""
    state = request.app.state
    admission: Admission | None = getattr(state, "admission", None)
    if admission is None:
        settings = state.settings
        admission = Admission(
            per_key=settings.max_concurrent_per_key,
            large=settings.max_concurrent_large,
            large_bytes=settings.large_request_bytes,
            wait_seconds=settings.admission_wait_seconds,
        )
        state.admission = admission
    return admission


@contextlib.asynccontextmanager
async def watch_disconnect(request: Request) -> AsyncIterator[threading.Event]:
    """An event set when the client closes the connection, while the body of the `async with` runs (the
    request's body must have been read: the next ASGI message is then the disconnect)."""
    gone = threading.Event()

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                gone.set()
                return

    watcher = asyncio.create_task(watch())
    try:
        yield gone
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
