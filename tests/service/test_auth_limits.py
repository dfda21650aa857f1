"""Authentication limits (issue 12, items 6, 14's readiness half, 15, 16, 17's /metrics document): a rate
limit shared by two real worker processes, failed authentications limited per address, refusals audited
without the submitted key, expiring keys and the short-lived admin key of `serve --admin-key`, /ready false
on a failing champion with the raw error for admins only."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from typer.testing import CliRunner

from pipelines.cli import app as cli
from service import messages
from service.app import create_app
from service.keys import SERVE_ORIGIN, KeyStore
from service.security import RateLimiter
from tests.service.conftest import Served, log_not_a_model
from tests.service.real_server import real_server, served_env

pytestmark = pytest.mark.slow


def _audit(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as con:
        return con.execute("SELECT key_id, route, model, status FROM audit ORDER BY rowid").fetchall()


def test_rate_limit_is_shared_by_two_worker_processes(trained_home: Path, tmp_path: Path) -> None:
    """Before: each worker kept its own buckets in memory, and a burst got twice the limit through."""
    key = KeyStore(tmp_path / "keys.db").create("agent", "CMA burst")[0]
    env = served_env(trained_home, tmp_path, CMA_RATE_LIMIT_PER_MINUTE="30")
    with real_server(env, tmp_path / "server.log", workers=2) as (base, _):

        def call(_: int) -> int:  # a new connection each time: both workers take their share
            return httpx.get(f"{base}/v1/models", headers={"X-API-Key": key}, timeout=30).status_code

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(call, range(90)))
        refills = int((time.monotonic() - started) / 2) + 1
    assert set(codes) == {200, 429}
    # 30 at once, plus what the bucket refills while the burst runs (one every 2 s): never twice the limit.
    assert 30 <= codes.count(200) <= 30 + refills < 60, (codes.count(200), refills)


def test_failed_authentications_are_limited_per_address(served: Served) -> None:
    """Before: unauthenticated requests were not limited at all."""
    settings = served.settings.model_copy(update={"auth_failures_per_minute": 5})
    with TestClient(create_app(settings)) as client:
        wrong = [{"X-API-Key": f"cma_{i:012x}_{'x' * 32}"} for i in range(4)] + [{}]
        assert [client.get("/v1/models", headers=h).status_code for h in wrong] == [401] * 5
        limited = client.get("/v1/models", headers={"X-API-Key": "cma_000000000009_yyyy"})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["message"] == messages.RATE_LIMITED
        # A valid key from the same address is not refused for the others' failures (a NAT).
        ok = client.get("/v1/models", headers={"X-API-Key": served.keys["agent"]})
        assert ok.status_code == 200


def test_refusals_are_audited_without_the_key_and_bounded(served: Served) -> None:
    """Before: 401, 403 and 429 left no trace in the audit log."""
    settings = served.settings.model_copy(update={"rate_limit_per_minute": 1})
    wrong = "cma_0123456789ab_SecretPartOfAWrongKey000000000"
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/models", headers={"X-API-Key": wrong}).status_code == 401
        agent = {"X-API-Key": served.keys["agent"]}
        assert client.post("/v1/admin/models/reload", headers=agent).status_code == 403
        assert client.get("/v1/models", headers=agent).status_code == 200
        assert client.get("/v1/models", headers=agent).status_code == 429
        agent_id = served.keys["agent"].split("_")[1]
        assert _audit(served.settings.audit_path()) == [
            ("", "/v1/models", "", 401),
            (agent_id, "/v1/admin/models/reload", "", 403),
            (agent_id, "/v1/models", "", 429),
        ]
        stored = served.settings.audit_path().read_bytes()
        for part in (wrong, "0123456789ab", "SecretPartOfAWrongKey"):
            assert part.encode() not in stored
        # A flood of refusals: at most the audit's budget (60 a minute) is written, the rest counted.
        for i in range(100):
            client.get("/v1/models", headers={"X-API-Key": f"cma_{i:012x}_flood"})
        written = len(_audit(served.settings.audit_path()))
        assert written <= 3 + 60, written
        text = client.get("/metrics", headers={"X-API-Key": served.keys["admin"]}).text
    dropped = [r for r in text.splitlines() if r.startswith("cma_audit_denied_dropped_total ")]
    assert float(dropped[0].split()[-1]) >= 100 - 60


def test_expired_keys_answer_401_and_old_key_files_are_migrated(served: Served, tmp_path: Path) -> None:
    """Before: keys had no expiry. A keys.db written before expiry existed gains the column and its keys
    keep working."""
    old = tmp_path / "old_keys.db"
    with sqlite3.connect(old) as con:
        con.execute(
            "CREATE TABLE api_keys (key_id TEXT PRIMARY KEY, key_hash TEXT UNIQUE NOT NULL, "
            "role TEXT NOT NULL, chamber TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)"
        )
        legacy = "cma_0000000000aa_legacylegacylegacylegacy"
        con.execute(
            "INSERT INTO api_keys VALUES ('0000000000aa', ?, 'agent', 'CMA old', "
            "'2024-01-01T00:00:00+00:00', NULL)",
            (hashlib.sha256(legacy.encode()).hexdigest(),),
        )
    con.close()
    settings = served.settings.model_copy(update={"keys_db": old})
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/models", headers={"X-API-Key": legacy}).status_code == 200
        store = KeyStore(old)
        soon, record = store.create("agent", "CMA expiring", timedelta(days=1))
        assert record.expires_at is not None
        assert client.get("/v1/models", headers={"X-API-Key": soon}).status_code == 200
        fresh, fresh_record = store.create("agent", "CMA expired", timedelta(days=1))
        with sqlite3.connect(old) as con:  # a day later
            con.execute(
                "UPDATE api_keys SET expires_at = '2000-01-01T00:00:00+00:00' WHERE key_id = ?",
                (fresh_record.key_id,),
            )
        con.close()
        expired = client.get("/v1/models", headers={"X-API-Key": fresh})
        assert expired.status_code == 401 and expired.json()["message"] == messages.MISSING_KEY


def test_serve_admin_key_expires_and_is_revoked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: every `serve --admin-key` minted a new admin key that never expired and was never revoked."""
    monkeypatch.setenv("CMA_PREDICT_HOME", str(tmp_path))
    # `serve` hands its settings to uvicorn's workers through the environment (CMA_TRACKING_URI from
    # MLFLOW_TRACKING_URI): both are restored after the test, or every later app would read that registry.
    for name in ("CMA_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.setenv(name, "recorded by monkeypatch")
        monkeypatch.delenv(name)
    store = KeyStore(tmp_path / "service" / "keys.db")
    crashed = store.create("admin", "local", timedelta(hours=12), SERVE_ORIGIN)[1]  # a serve killed -9
    kept = store.create("admin", "CMA ops")[1]  # an admin key made with `keys create`: not touched
    seen: list[dict[str, Any]] = []

    def fake_run(*args: Any, **kwargs: Any) -> None:  # the server's lifetime
        seen.append({r.key_id: r for r in store.list()})

    monkeypatch.setattr("uvicorn.run", fake_run)
    runner = CliRunner()
    served = runner.invoke(cli, ["serve", "--admin-key"])
    assert served.exit_code == 0, served.output
    minted_id = served.output.split("Local admin key (id ")[1].split(",")[0]
    during = seen[0]
    assert during[crashed.key_id].revoked_at is not None, "the previous local admin key is revoked"
    assert during[minted_id].revoked_at is None and during[minted_id].expires_at is not None
    assert during[kept.key_id].revoked_at is None
    after = {r.key_id: r for r in store.list()}
    assert after[minted_id].revoked_at is not None, "revoked at shutdown"
    assert after[kept.key_id].revoked_at is None

    created = runner.invoke(
        cli, ["keys", "create", "--role", "agent", "--chamber", "CMA X", "--expires-days", "3"]
    )
    assert created.exit_code == 0 and "expires" in created.output
    listed = runner.invoke(cli, ["keys", "list"], env={"COLUMNS": "250"})
    assert "expires" in listed.output and "never" in listed.output
    bad = runner.invoke(cli, ["keys", "create", "--role", "agent", "--chamber", "X", "--expires-days", "0"])
    assert bad.exit_code == 2


def test_ready_is_false_while_a_champion_fails_and_hides_raw_errors(
    client: TestClient, served: Served
) -> None:
    """Before: /ready said ready: true while a new champion failed to load (the older version serving), and
    showed the raw MLflow error to any key."""
    name = "dropout_risk"
    admin = {"X-API-Key": served.keys["admin"]}
    agent = {"X-API-Key": served.keys["agent"]}
    mlflow_client = MlflowClient()
    try:
        bad = mlflow.register_model(log_not_a_model(name), name)
        mlflow_client.set_registered_model_alias(name, "champion", str(bad.version))
        assert client.post("/v1/admin/models/reload", headers=admin).status_code == 200
        seen = client.get("/ready", headers=agent)
        assert seen.status_code == 503
        body = seen.json()
        assert body["status"] == 503 and body["ready"] is False and body["models"][name] == "1"
        assert {"model": name, "version": "1", "reason": body["errors"][name]} in body["details"]
        assert "dropout_risk v" not in body["errors"][name] and "Error" not in body["errors"][name]
        raw = client.get("/ready", headers=admin).json()["errors"][name]
        assert raw != body["errors"][name] and ("Error" in raw or "v" in raw)
    finally:
        mlflow_client.set_registered_model_alias(name, "champion", "1")
    assert client.post("/v1/admin/models/reload", headers=admin).status_code == 200
    assert client.get("/ready", headers=agent).status_code == 200


def test_metrics_are_documented_as_prometheus_text(client: TestClient) -> None:
    """Before: the OpenAPI document said /metrics answers JSON."""
    content = client.get("/openapi.json").json()["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in content and "application/json" not in content
    ready = client.get("/openapi.json").json()["paths"]["/ready"]["get"]["responses"]
    assert "503" in ready


def test_rate_limit_is_a_sliding_window_across_a_minute_edge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared counter (issue 15): a fixed window would let twice the budget through across a minute's
    edge; the previous minute's count, weighed by how much of it is still within the last 60 s, holds it."""
    old = tmp_path / "ratelimit.db"
    with sqlite3.connect(old) as con:  # a counter file of the token-bucket versions
        con.execute(
            "CREATE TABLE buckets (name TEXT PRIMARY KEY, tokens REAL NOT NULL, updated REAL NOT NULL)"
        )
    con.close()
    limiter = RateLimiter(old, 10)
    start = 1_800_000_000.0 - 1_800_000_000.0 % 60
    now = [start + 59.0]
    monkeypatch.setattr("service.security.time.time", lambda: now[0])
    assert [limiter.take("key:k", 10) for _ in range(10)] == [None] * 10
    # At the edge: 1 s to the next minute, then 6 s more for its weight of the 10 to leave room for one.
    assert limiter.take("key:k", 10) == 7
    now[0] = start + 61.0  # the next minute: its first second still weighs the previous one's 10 requests
    assert limiter.take("key:k", 10) is not None
    now[0] = start + 90.0  # half of the previous minute within the last 60 s: room for 5
    assert [limiter.take("key:k", 10) for _ in range(6)] == [None] * 5 + [6]
    assert limiter.take("key:k", 10, spend=False) == 6 and limiter.take("other", 10, spend=False) is None
    with sqlite3.connect(old) as con:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert "buckets" not in tables and {"rate_windows", "alembic_version"} <= tables
