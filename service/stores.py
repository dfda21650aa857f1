"""What the service's SQLite stores share: owner-only files, short busy timeouts, one 503 for a store that
cannot be used, and a health record that `/ready` and the metrics read.

A store failure must never block the event loop nor go unseen: a store call waits a fraction of a second for
a lock (never the driver's default of 5 or 10 s), then raises `StoreUnavailable` (a 503 in the error contract
with `Retry-After` and the store named), counts the failure in `cma_store_errors_total{store,kind}` and marks
the store failing on `/ready` until its next successful use.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException, status

logger = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700

# Store names, as they appear in `/ready`, the metrics and the 503 details.
KEYS = "keys"
SESSIONS = "sessions"
AUDIT = "audit"
RATE_LIMIT = "rate_limit"

STORE_LABELS = {
    KEYS: "le registre des clés d'API",
    SESSIONS: "le registre des sessions",
    AUDIT: "le journal d'audit",
    RATE_LIMIT: "le compteur de débit",
}

# Why a store could not be used, in French (what agents and operators read), by failure kind.
REASONS = {
    "locked": "base verrouillée par un autre processus",
    "full": "disque plein",
    "io": "erreur d'entrée-sortie sur le fichier",
    "unreadable": "fichier absent, illisible ou endommagé",
    "deleted": "fichier supprimé pendant le service, recréé",
}
UNAVAILABLE = "{label} est momentanément indisponible : réessayez après le délai indiqué (Retry-After)."


class StoreUnavailable(HTTPException):
    """503 for a store that cannot be read or written now: the error contract names the store and the
    reason, and `Retry-After` says when to try again. Raised inside worker threads too (the audit of a
    scoring request), so that a request never answers 200 when its audit entry could not be kept."""

    def __init__(self, store: str, kind: str, retry_after: int = 1) -> None:
        label = STORE_LABELS.get(store, store)
        super().__init__(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            UNAVAILABLE.format(label=label[0].upper() + label[1:]),
            headers={"Retry-After": str(retry_after)},
        )
        self.store = store
        self.kind = kind
        self.details = [{"store": store, "reason": REASONS.get(kind, kind)}]


def failure_kind(err: sqlite3.Error) -> str:
    """The kind of a SQLite failure: locked, full, io or unreadable."""
    name = getattr(err, "sqlite_errorname", "") or ""
    text = str(err).lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return "locked"
    if name.startswith("SQLITE_FULL") or "full" in text:
        return "full"
    if name.startswith(("SQLITE_IOERR", "SQLITE_READONLY")) or "i/o" in text:
        return "io"
    return "unreadable"


@dataclass
class StoreState:
    """One store's health: failing now (kind, reason, since when), failures and incidents so far."""

    failing: str | None = None
    since: str | None = None
    detail: str | None = None
    failures: int = 0
    incidents: list[dict[str, str]] = field(default_factory=list)


class StoreHealth:
    """Thread-safe health of the stores, shared by the stores of one app. `on_error(store, kind)` counts a
    failure (the app wires it to `cma_store_errors_total`)."""

    MAX_INCIDENTS = 20

    def __init__(self, on_error: Callable[[str, str], None] | None = None) -> None:
        self._on_error = on_error
        self._lock = threading.Lock()
        self._stores: dict[str, StoreState] = {}
        self._probes: dict[str, Callable[[], None]] = {}

    def register(self, store: str, probe: Callable[[], None] | None = None) -> None:
        """Show `store` on /ready (healthy) before its first use. `probe` (blocking, raises when the store
        still cannot be used) lets /ready see a store recover without waiting for its next use."""
        with self._lock:
            self._stores.setdefault(store, StoreState())
            if probe is not None:
                self._probes[store] = probe

    def probe_failing(self) -> None:
        """Probe the failing stores again; those that answer are healthy again. Blocking."""
        for store in self.failing():
            probe = self._probes.get(store)
            if probe is None:
                continue
            try:
                probe()
            except Exception:  # still failing: its state stays as recorded
                continue
            self.ok(store)

    def failed(self, store: str, kind: str, detail: str) -> None:
        """Record a failure of `store` (it stays failing until `ok`); `detail` (the driver's text, which may
        hold paths) is shown to admin keys only."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            state = self._stores.setdefault(store, StoreState())
            if state.failing != kind:
                state.since = now
            state.failing, state.detail = kind, detail[:300]
            state.failures += 1
        if self._on_error is not None:
            self._on_error(store, kind)

    def incident(self, store: str, kind: str, detail: str) -> None:
        """Record an event the store recovered from (an audit file deleted and recreated): counted and shown
        on /ready, the store itself healthy."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            state = self._stores.setdefault(store, StoreState())
            state.incidents = [*state.incidents, {"at": now, "kind": kind, "detail": detail[:300]}][
                -self.MAX_INCIDENTS :
            ]
        if self._on_error is not None:
            self._on_error(store, kind)

    def ok(self, store: str) -> None:
        """The store was used successfully: no longer failing."""
        state = self._stores.get(store)
        if state is not None and state.failing is not None:
            with self._lock:
                state.failing = state.detail = state.since = None

    def failing(self) -> dict[str, StoreState]:
        """The stores failing now."""
        with self._lock:
            return {name: s for name, s in self._stores.items() if s.failing is not None}

    def report(self, admin: bool) -> dict[str, dict[str, Any]]:
        """Every store's state for /ready: the French reason for all, the driver's text for admins only."""
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for name, s in sorted(self._stores.items()):
                entry: dict[str, Any] = {"status": "ok" if s.failing is None else "failing"}
                if s.failing is not None:
                    entry["reason"] = REASONS.get(s.failing, s.failing)
                    entry["since"] = s.since
                    if admin:
                        entry["error"] = s.detail
                if s.incidents:
                    entry["incidents"] = [
                        {"at": i["at"], "reason": REASONS.get(i["kind"], i["kind"])}
                        | ({"error": i["detail"]} if admin else {})
                        for i in s.incidents
                    ]
                out[name] = entry
        return out


def owner_only(path: Path) -> None:
    """Create `path` (and its folder) readable by the owner only, before SQLite opens it: keys, sessions,
    audit and rate-limit files hold key hashes and who did what. A folder created here is 0700, the file
    0600; an existing file (or its -wal/-shm) readable by others is narrowed to 0600."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(fd)
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(candidate.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            os.chmod(candidate, FILE_MODE)
