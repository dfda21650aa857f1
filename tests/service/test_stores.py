"""A store failure never blocks the event loop and never goes unseen (issue 12, items 1, 2 and 17's file
modes), against a real uvicorn server: keys.db or audit.db locked by another connection, audit.db deleted
while serving, a full disk under the audit log; /ready and the metrics say which store."""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import stat
import statistics
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.keys import KeyStore
from tests.service.conftest import Served, company_records
from tests.service.real_server import real_server, served_env

pytestmark = pytest.mark.slow

HOST = "/v1/apprenticeship-host/scores"


class Server:
    """A running server, its store folder and keys."""

    def __init__(self, base: str, folder: Path, keys: dict[str, str], records: list[dict[str, Any]]) -> None:
        self.base = base
        self.folder = folder
        self.keys = keys
        self.records = records

    def score(self, key: str | None = None, timeout: float = 30) -> httpx.Response:
        return httpx.post(
            f"{self.base}{HOST}",
            json={"companies": self.records},
            headers={"X-API-Key": key or self.keys["agent"]},
            timeout=timeout,
        )

    def get(self, path: str, role: str | None = "admin", timeout: float = 30) -> httpx.Response:
        headers = {"X-API-Key": self.keys[role]} if role else {}
        return httpx.get(f"{self.base}{path}", headers=headers, timeout=timeout)

    def audit_rows(self) -> int:
        with sqlite3.connect(self.folder / "audit.db") as con:
            return int(con.execute("SELECT count(*) FROM audit").fetchone()[0])


def _keys(folder: Path) -> dict[str, str]:
    store = KeyStore(folder / "keys.db")
    return {role: store.create(role, f"CMA test {role}")[0] for role in ("agent", "admin")}


@pytest.fixture(scope="module")
def server(trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("stores")
    keys = _keys(folder)
    records = company_records(pd.read_parquet(trained_home / "host.parquet"), 1)
    with real_server(served_env(trained_home, folder), folder / "server.log") as (base, _):
        yield Server(base, folder, keys, records)


@pytest.fixture()
def locked(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A function locking a store file with BEGIN EXCLUSIVE from another connection, released after."""
    held: list[sqlite3.Connection] = []

    def lock(path: Path) -> None:
        con = sqlite3.connect(path, isolation_level=None, timeout=5)
        con.execute("BEGIN EXCLUSIVE")
        held.append(con)

    yield lock
    for con in held:
        con.rollback()
        con.close()


def _timed(call: Any) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    response = call()
    return time.perf_counter() - start, response


def _metric(server: Server, store: str, kind: str) -> float:
    text = server.get("/metrics").text
    line = f'cma_store_errors_total{{kind="{kind}",store="{store}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def test_locked_keys_db_answers_503_fast_and_health_stays_fast(server: Server, locked: Any) -> None:
    """Before: the key check did blocking SQLite work on the event loop (busy timeout 10 s): /health took
    9.5 s and the request ended in a plain-text 500."""
    assert server.score().status_code == 200  # the agent and admin keys are now cached (a few seconds)
    assert server.get("/ready").status_code == 200
    locked(server.folder / "keys.db")
    unknown = [f"cma_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}" for _ in range(4)]
    with ThreadPoolExecutor(4) as pool, httpx.Client(base_url=server.base) as kept_alive:
        pending = pool.map(lambda key: _timed(lambda: server.score(key)), unknown)
        # One connection kept open: the time measured is the server's, not a new client's set-up.
        health = [_timed(lambda: kept_alive.get("/health"))[0] for _ in range(5)]
        answers = list(pending)
    for elapsed, response in answers:
        assert response.status_code == 503, response.text
        assert elapsed < 1.0, f"a locked keys.db answered after {elapsed:.2f} s"
        body = response.json()
        assert body["status"] == 503 and "clés d'API" in body["message"]
        assert body["details"] == [{"store": "keys", "reason": "base verrouillée par un autre processus"}]
        assert int(response.headers["Retry-After"]) >= 1
    assert statistics.median(health) < 0.1 and max(health) < 1.0, health
    # A key already checked keeps working: scoring touches neither keys.db nor the loop.
    assert server.score().status_code == 200
    ready = server.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["stores"]["keys"]["status"] == "failing"
    assert {"store": "keys", "reason": "base verrouillée par un autre processus"} in ready.json()["details"]
    assert _metric(server, "keys", "locked") >= 1


def test_keys_db_unlocked_is_ready_again(server: Server) -> None:
    ready = server.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["stores"]["keys"] == {"status": "ok"}
    fresh = KeyStore(server.folder / "keys.db").create("agent", "CMA fresh")[0]
    assert server.score(fresh).status_code == 200


def test_locked_audit_answers_503_within_a_second(server: Server, locked: Any) -> None:
    """Before: each scoring request answered a plain 500 after 10 s, one after another."""
    assert server.score().status_code == 200
    locked(server.folder / "audit.db")
    elapsed, response = _timed(server.score)
    assert response.status_code == 503, response.text
    assert elapsed < 1.0, f"a locked audit.db answered after {elapsed:.2f} s"
    assert response.json()["details"] == [
        {"store": "audit", "reason": "base verrouillée par un autre processus"}
    ]
    assert response.headers["Retry-After"] == "1"
    assert _timed(lambda: server.get("/health", role=None))[0] < 1.0
    ready = server.get("/ready")
    assert ready.status_code == 503 and ready.json()["stores"]["audit"]["status"] == "failing"


def test_audit_unlocked_keeps_every_entry(server: Server) -> None:
    before = server.audit_rows()
    assert server.score().status_code == 200
    assert server.audit_rows() == before + 1
    assert server.get("/ready").status_code == 200
    assert _metric(server, "audit", "locked") >= 1


@pytest.mark.parametrize("files", [("audit.db",), ("audit.db", "audit.db-wal", "audit.db-shm")])
def test_audit_deleted_while_serving_is_recreated_with_its_entries(
    server: Server, files: tuple[str, ...]
) -> None:
    """Before: requests kept answering 200, their entries went to the deleted file (lost at restart) and
    /ready stayed green."""
    assert server.score().status_code == 200
    kept = server.audit_rows()
    incidents = len(server.get("/ready").json()["stores"]["audit"].get("incidents", []))
    for name in files:
        (server.folder / name).unlink(missing_ok=True)
    assert server.score().status_code == 200
    assert (server.folder / "audit.db").exists(), "the audit log was not recreated"
    assert server.audit_rows() == kept + 1, "the deleted file's entries are kept, and the new one"
    ready = server.get("/ready")
    assert ready.status_code == 200, ready.text
    audit = ready.json()["stores"]["audit"]
    assert audit["status"] == "ok" and len(audit["incidents"]) == incidents + 1
    assert audit["incidents"][-1]["reason"] == "fichier supprimé pendant le service, recréé"
    agent_view = server.get("/ready", role="agent").json()["stores"]["audit"]["incidents"][-1]
    assert "error" not in agent_view, "paths are for admin keys only"
    assert _metric(server, "audit", "deleted") == incidents + 1
    mode = stat.S_IMODE((server.folder / "audit.db").stat().st_mode)
    assert mode == 0o600


def test_audit_on_a_full_disk_answers_503_and_shows_on_ready(
    trained_home: Path, tmp_path: Path, served: Served
) -> None:
    """The audit log on a small filesystem (tmpfs in a private mount namespace) filled by the entries
    themselves. Before: 300 of 300 requests failed and /ready stayed green."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("no mount namespace to make a small filesystem in (unshare -m)")
    small = tmp_path / "small"
    small.mkdir()
    keys = _keys(tmp_path)
    env = served_env(trained_home, tmp_path, CMA_AUDIT_DB=str(small / "audit.db"))
    # 1 MiB of filesystem, 880 KiB of it taken: the write-ahead log (a 4 KiB page per entry) fills the rest.
    wrapper = [
        "unshare",
        "-m",
        "sh",
        "-c",
        f"mount -t tmpfs -o size=1m tmpfs {small} && dd if=/dev/zero of={small}/filler bs=1k count=880 "
        '2>/dev/null && exec "$@"',
        "sh",
    ]
    records = company_records(served.host_rows, 1)
    with real_server(env, tmp_path / "server.log", wrapper=wrapper) as (base, _):
        server = Server(base, small, keys, records)
        codes = []
        for _ in range(200):
            response = server.score()
            codes.append(response.status_code)
            if response.status_code != 200:
                break
        assert codes[:-1] and set(codes[:-1]) == {200} and codes[-1] == 503, codes
        assert response.json()["details"] == [{"store": "audit", "reason": "disque plein"}]
        assert int(response.headers["Retry-After"]) >= 1
        assert server.score().status_code == 503, "still full: still refused, never a 200 without entry"
        ready = server.get("/ready")
        assert ready.status_code == 503 and ready.json()["stores"]["audit"]["reason"] == "disque plein"
        assert _metric(server, "audit", "full") >= 2


def test_store_files_and_folder_are_owner_only(served: Served, tmp_path: Path) -> None:
    """Before: keys.db, audit.db and their folder were created world-readable (0644, 0755)."""
    folder = tmp_path / "new" / "service"
    old = tmp_path / "old.db"
    sqlite3.connect(old).close()
    old.chmod(0o644)  # a key file written by an earlier version
    settings = served.settings.model_copy(update={"keys_db": folder / "keys.db", "audit_db": old})
    with TestClient(create_app(settings)) as client:
        key = KeyStore(folder / "keys.db").create("agent", "CMA modes")[0]
        assert client.get("/ready", headers={"X-API-Key": key}).status_code == 200
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        files = [*folder.iterdir(), *(p for p in tmp_path.iterdir() if p.name.startswith("old"))]
        names = {p.name for p in files}
        assert {"keys.db", "ratelimit.db", "old.db"} <= names
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
