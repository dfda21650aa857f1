"""What the service's stores share: one SQLAlchemy engine per database (SQLite files by default, one
PostgreSQL database with `CMA_DATABASE_URL`), their Alembic migrations run at start-up, owner-only SQLite
files, short busy timeouts, one 503 for a store that cannot be used, and a health record that `/ready` and
the metrics read.

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
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.pool import NullPool

logger = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700

# Store names, as they appear in `/ready`, the metrics and the 503 details.
KEYS = "keys"
SESSIONS = "sessions"
AUDIT = "audit"
RATE_LIMIT = "rate_limit"
MONITORING = "monitoring"

STORE_LABELS = {
    KEYS: "le registre des clés d'API",
    SESSIONS: "le registre des sessions",
    AUDIT: "le journal d'audit",
    RATE_LIMIT: "le compteur de débit",
    MONITORING: "le registre de suivi des prédictions",
}

# Why a store could not be used, in French (what agents and operators read), by failure kind.
REASONS = {
    "locked": "base verrouillée par un autre processus",
    "full": "disque plein",
    "io": "erreur d'entrée-sortie sur le fichier, ou serveur de base de données injoignable",
    "unreadable": "fichier ou base absent, illisible ou endommagé",
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


def failure_kind(err: BaseException) -> str:
    """The kind of a store failure (SQLite, PostgreSQL through psycopg, or SQLAlchemy's own): locked, full,
    io or unreadable."""
    if isinstance(err, exc.TimeoutError):  # no pooled connection free within the busy timeout
        return "locked"
    orig: BaseException = err.orig if isinstance(err, exc.DBAPIError) and err.orig is not None else err
    if isinstance(orig, sqlite3.Error):
        name = getattr(orig, "sqlite_errorname", "") or ""
        text = str(orig).lower()
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
            return "locked"
        if name.startswith("SQLITE_FULL") or "full" in text:
            return "full"
        if name.startswith(("SQLITE_IOERR", "SQLITE_READONLY")) or "i/o" in text:
            return "io"
        return "unreadable"
    sqlstate = str(getattr(orig, "sqlstate", "") or "")
    # lock_not_available, query_canceled (statement_timeout), deadlock, serialization, too many connections
    if sqlstate in ("55P03", "57014", "40P01", "40001", "53300"):
        return "locked"
    if sqlstate.startswith("53"):  # insufficient resources: disk full, out of memory
        return "full"
    if sqlstate.startswith(("08", "57P", "58")) or (
        isinstance(err, exc.DBAPIError) and (err.connection_invalidated or not sqlstate)
    ):
        return "io"  # the server cannot be reached, or went away
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


# Engines. A store is given a SQLite file (a `Path`), a database URL, or an engine opened by `open_engine`.
StoreTarget = Path | str | Engine
POOL_SIZE = 4
POOL_OVERFLOW = 16  # up to the stores' 16 worker threads


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine is a SQLite file (owner-only modes and the audit file's recovery apply)."""
    return engine.dialect.name == "sqlite"


def database_url(target: Path | str) -> str:
    """The SQLAlchemy URL of a SQLite file or of a URL (`postgresql://...` is driven by psycopg 3)."""
    if isinstance(target, Path) or "://" not in target:
        return f"sqlite+pysqlite:///{Path(target)}"
    if target.startswith("postgresql://"):
        return "postgresql+psycopg://" + target.removeprefix("postgresql://")
    return target


def open_engine(target: StoreTarget, busy_seconds: float, wal: bool = False) -> Engine:
    """An engine on `target` whose statements wait at most `busy_seconds` for another's lock, then fail
    (`StoreUnavailable` in the store). SQLite: the file made owner-only first, WAL and NORMAL sync when
    `wal`. PostgreSQL: `lock_timeout`, a statement timeout and a 2 s connect timeout, so that a locked
    row or an unreachable server answers 503 fast; connections checked before use (a restarted server)."""
    if isinstance(target, Engine):
        return target
    url = database_url(target)
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        owner_only(path)
        engine = create_engine(
            url,
            connect_args={"timeout": busy_seconds, "check_same_thread": False},
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_timeout=busy_seconds,
        )
        if wal:

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

        return engine
    lock_ms = max(1, int(busy_seconds * 1000))
    statement_ms = max(1000, 4 * lock_ms)
    return create_engine(
        url,
        connect_args={
            "connect_timeout": 2,
            "options": f"-c lock_timeout={lock_ms} -c statement_timeout={statement_ms}",
        },
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=busy_seconds,
        pool_pre_ping=True,
    )


# Alembic: the script folder ships in the package; each SQLite file holds one branch of the history (keys
# and sessions in keys.db, the audit in audit.db, the rate-limit counters in ratelimit.db, the monitoring in
# monitoring.db), one PostgreSQL database holds them all.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BRANCHES = {
    KEYS: "keys",
    SESSIONS: "keys",
    AUDIT: "audit",
    RATE_LIMIT: "rate_limit",
    MONITORING: "monitoring",
}
MIGRATION_BUSY_SECONDS = 10.0
_migrating = threading.Lock()  # Alembic's context is process-global: one migration at a time per process


def migrate(target: StoreTarget, store: str | None = None) -> None:
    """Bring the database of `target` to the latest revision of `store`'s branch (every branch when None,
    and always on PostgreSQL, where all the stores share one database). Runs in one transaction: on
    PostgreSQL under an advisory lock (N workers starting together migrate once, the others wait and find
    nothing to do), on SQLite under `BEGIN IMMEDIATE` (the file's write lock). Key files written before
    the migrations existed are brought up to date by the first revision (it creates only what is missing)."""
    from alembic import command
    from alembic.config import Config

    url = (
        target.url.render_as_string(hide_password=False)
        if isinstance(target, Engine)
        else database_url(target)
    )
    sqlite = url.startswith("sqlite")
    if sqlite:
        owner_only(Path(url.split(":///", 1)[1]))
        engine = create_engine(
            url, connect_args={"timeout": MIGRATION_BUSY_SECONDS, "isolation_level": None}, poolclass=NullPool
        )

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    else:
        engine = create_engine(url, connect_args={"connect_timeout": 5}, poolclass=NullPool)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    revision = f"{BRANCHES[store]}@head" if sqlite and store is not None else "heads"
    try:
        with _migrating, engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
