"""Benchmark of the service with its state (keys, rate limits, audit) on PostgreSQL against the same service
on its SQLite files, in the same run: latency p50/p99 of a 1-record scoring request (key check from the
cache, one rate-limit UPSERT, one audit row) and of `GET /v1/models` (key check and rate limit only).

Needs trained champions (`make run` or `cma-predict run`). PostgreSQL: `--database-url`, else a throw-away
cluster of Debian's server binaries (tests/postgres.py), started and removed by the bench. Usage:
    python bench/bench_state.py [--home var] [--requests 600] [--database-url postgresql://...]
Only loopback addresses are used; every loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_service import _free_port, _stop, _time, _wait  # noqa: E402
from bench.machine import machine  # noqa: E402


def start_api(home: Path, port: int, state: dict[str, str]) -> subprocess.Popen[bytes]:
    """The scoring API on `home`'s champions (uvicorn, one worker) with its state settings `state`, no rate
    limit in the way of a bench."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "service.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "CMA_PREDICT_HOME": str(home),
            "CMA_RATE_LIMIT_PER_MINUTE": "1000000",
            **state,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _line(name: str, ms: np.ndarray) -> str:
    return f"  {name:<40} p50 {np.percentile(ms, 50):7.2f} ms  p99 {np.percentile(ms, 99):7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", default="var")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL state database (default: throw-away)"
    )
    args = parser.parse_args()
    home = Path(args.home).resolve()

    from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS
    from service.keys import KeyStore

    dataset = pd.read_parquet(home / "data" / "apprenticeship_host" / "dataset.parquet")
    one = dataset[list(SNAPSHOT_COLUMNS)].head(1)
    record = one.assign(
        creation_date=one["creation_date"].dt.strftime("%Y-%m-%d"),
        cutoff_date=one["cutoff_date"].dt.strftime("%Y-%m-%d"),
    ).to_dict("records")[0]
    if record["years_since_last_contract"] != record["years_since_last_contract"]:
        record["years_since_last_contract"] = None
    body = orjson.dumps({"companies": [record]})

    with ExitStack() as stack:
        url = args.database_url
        if url is None:
            from tests.postgres import start_cluster

            cluster = stack.enter_context(start_cluster())
            url = cluster.create_database("bench_state")
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as con:
            server = con.execute("SHOW server_version").fetchone()
        print(f"machine: {machine()}; PostgreSQL {server[0] if server else '?'} on loopback")
        folder = Path(tempfile.mkdtemp())
        sqlite_state = {"CMA_KEYS_DB": str(folder / "keys.db"), "CMA_AUDIT_DB": str(folder / "audit.db")}
        postgres_state = {"CMA_DATABASE_URL": url}
        sqlite_key = KeyStore(folder / "keys.db").create("admin", "bench")[0]
        postgres_key = KeyStore(url).create("admin", "bench")[0]
        ports = _free_port(), _free_port()
        apis = [start_api(home, ports[0], sqlite_state), start_api(home, ports[1], postgres_state)]
        try:
            for port in ports:
                _wait(f"http://127.0.0.1:{port}/health")
            client = httpx.Client(timeout=60)
            calls: list[Callable[[], None]] = []
            for port, key in zip(ports, (sqlite_key, postgres_key), strict=True):
                base = f"http://127.0.0.1:{port}"
                headers = {"X-API-Key": key, "Content-Type": "application/json"}

                def score(b: str = base, h: dict[str, str] = headers) -> None:
                    client.post(
                        f"{b}/v1/apprenticeship-host/scores", content=body, headers=h
                    ).raise_for_status()

                def models(b: str = base, h: dict[str, str] = headers) -> None:
                    client.get(f"{b}/v1/models", headers=h).raise_for_status()

                calls += [score, models]
            deadline = time.monotonic() + 180  # the champion loaded (a reload may finish after start-up)
            for call in calls:
                while True:
                    try:
                        call()
                        break
                    except httpx.HTTPStatusError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(1)
            for call in calls:  # warm-up: connections, caches
                for _ in range(20):
                    call()
            sqlite_score, sqlite_models, pg_score, pg_models = _time(calls, args.requests, blocks=10)
            print(f"{args.requests} requests each, alternating blocks:")
            print(_line("1 record, state on SQLite files", sqlite_score))
            print(_line("1 record, state on PostgreSQL", pg_score))
            print(_line("GET /v1/models, state on SQLite files", sqlite_models))
            print(_line("GET /v1/models, state on PostgreSQL", pg_models))
            print(
                f"  p50 ratio PostgreSQL / SQLite: 1 record "
                f"{np.percentile(pg_score, 50) / np.percentile(sqlite_score, 50):.2f}, "
                f"/v1/models {np.percentile(pg_models, 50) / np.percentile(sqlite_models, 50):.2f}"
            )
        finally:
            _stop(*apis)


if __name__ == "__main__":
    main()
