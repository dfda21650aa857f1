"""Benchmark of the scoring API against `mlflow models serve` of the same registered version and against
the raw model's predict in-process, in the same run: latency p50/p99 and throughput for 1, 100 and 10,000
records per request, with the reasons (the default request) and without, and the service's resident memory.

Needs trained champions (`make run` or `cma-predict run`). Usage:
    python bench/bench_service.py [--home var] [--requests 200]
Only loopback addresses are used; every loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def start_api(home: Path, folder: Path, port: int) -> subprocess.Popen[bytes]:
    """The scoring API serving `home`'s champions on loopback `port` (uvicorn, one worker), its keys and
    audit log in `folder`, with no rate limit in the way of a bench."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "service.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "CMA_PREDICT_HOME": str(home),
            "CMA_KEYS_DB": str(folder / "keys.db"),
            "CMA_AUDIT_DB": str(folder / "audit.db"),
            "CMA_RATE_LIMIT_PER_MINUTE": "1000000",
        },
    )


def start_mlflow_serve(home: Path, version: str, port: int) -> subprocess.Popen[bytes]:
    """`mlflow models serve` of version `version` of the host model of `home`'s registry, on loopback
    `port`, in this environment (it starts `uvicorn` from PATH: this interpreter's folder first)."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "models", "serve"),
            *("-m", f"models:/apprenticeship_host/{version}", "--env-manager", "local"),
            *("-h", "127.0.0.1", "-p", str(port)),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
            "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(*processes: subprocess.Popen[bytes]) -> None:
    """Stop servers started by a bench (killed if they do not stop within 20 s)."""
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _time(calls: list[Callable[[], None]], n: int, blocks: int = 5) -> list[np.ndarray]:
    """Milliseconds of `n` calls of each, in alternating blocks (A B C A B C ...): the machine's ups and
    downs (a shared VM) fall on all of them alike, and no call runs while another one's threads are
    still busy."""
    out: list[list[float]] = [[] for _ in calls]
    for _ in range(blocks):
        for times, call in zip(out, calls, strict=True):
            for _ in range(max(1, n // blocks)):
                start = time.perf_counter()
                call()
                times.append((time.perf_counter() - start) * 1000)
    return [np.array(times) for times in out]


def _line(name: str, size: int, ms: np.ndarray) -> str:
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    rate = size / (p50 / 1000)
    return f"  {name:<34} {size:>6} records: p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  {rate:>11,.0f} records/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", default="var")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--reasons", choices=("both", "on", "off"), default="both")
    parser.add_argument("--sizes", default="1,100,10000", help="Records per request, comma-separated")
    args = parser.parse_args()
    home = Path(args.home).resolve()
    uri = f"sqlite:///{home / 'mlflow.db'}"
    os.environ.update({"MLFLOW_TRACKING_URI": uri})

    import mlflow

    from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS

    mlflow.set_tracking_uri(uri)
    version = mlflow.MlflowClient().get_model_version_by_alias("apprenticeship_host", "champion").version
    model = mlflow.pyfunc.load_model(f"models:/apprenticeship_host/{version}").unwrap_python_model().model
    dataset = pd.read_parquet(home / "data" / "apprenticeship_host" / "dataset.parquet")
    rows = dataset[dataset["cutoff_date"] == dataset["cutoff_date"].max()].head(10_000)
    snapshots = rows[list(SNAPSHOT_COLUMNS)].reset_index(drop=True)
    records = snapshots.assign(
        creation_date=snapshots["creation_date"].dt.strftime("%Y-%m-%d"),
        cutoff_date=snapshots["cutoff_date"].dt.strftime("%Y-%m-%d"),
    ).to_dict("records")
    for record in records:
        if record["years_since_last_contract"] != record["years_since_last_contract"]:
            record["years_since_last_contract"] = None

    print(f"machine: {machine()}; apprenticeship_host v{version}")
    tmp = Path(tempfile.mkdtemp())
    from service.keys import KeyStore

    key, _ = KeyStore(tmp / "keys.db").create("admin", "bench")
    api_port, mlflow_port = _free_port(), _free_port()
    api = start_api(home, tmp, api_port)
    served = start_mlflow_serve(home, version, mlflow_port)
    api_url = f"http://127.0.0.1:{api_port}/v1/apprenticeship-host/scores"
    mlflow_url = f"http://127.0.0.1:{mlflow_port}/invocations"
    try:
        _wait(f"http://127.0.0.1:{api_port}/health")
        _wait(f"http://127.0.0.1:{mlflow_port}/ping")
        client = httpx.Client(timeout=120)
        headers = {"X-API-Key": key}
        print(f"service resident memory with every champion loaded: {_rss_mb(api.pid):,.0f} MB")
        columns = list(SNAPSHOT_COLUMNS)
        for explain, size in [
            (e, n)
            for e in {"both": (True, False), "on": (True,), "off": (False,)}[args.reasons]
            for n in (int(size) for size in args.sizes.split(","))
        ]:
            # With reasons: the request users send by default (the API and the pyfunc both explain by
            # default); without: the figures of the earlier benches.
            n = max(30, args.requests // (1 if size == 1 else 10 if size == 100 else 40))
            if explain and size >= 10_000:  # seconds a request (the contributions of 10,000 rows): fewer
                n = 8
            # The same rows as objects, as columns (ours) / split (mlflow), and as one CSV file for both.
            # Bodies are encoded once, as a client sending a prepared file would: the servers' timings.
            csv = snapshots.head(size).to_csv(index=False, date_format="%Y-%m-%d").encode()
            api_csv_url = f"{api_url}?explain={str(explain).lower()}"
            json_type, csv_type = "application/json", "text/csv"
            bodies = {
                "objects": (
                    (orjson.dumps({"companies": records[:size], "explain": explain}), json_type),
                    (
                        orjson.dumps({"dataframe_records": records[:size], "params": {"explain": explain}}),
                        json_type,
                    ),
                ),
                "columns": (
                    (
                        orjson.dumps(
                            {
                                "columns": {c: [r[c] for r in records[:size]] for c in columns},
                                "explain": explain,
                            }
                        ),
                        json_type,
                    ),
                    (
                        orjson.dumps(
                            {
                                "dataframe_split": {
                                    "columns": columns,
                                    "data": [[r[c] for c in columns] for r in records[:size]],
                                },
                                "params": {"explain": explain},
                            }
                        ),
                        json_type,
                    ),
                ),
                "csv": ((csv, csv_type), (csv, csv_type)),  # the same file to both servers
            }
            probe = client.post(mlflow_url, content=csv, headers={"Content-Type": csv_type})
            if probe.status_code != 200:  # its pandas reader makes numbers of SIRET and commune codes
                print(f"  mlflow serve refuses the CSV ({probe.status_code}: {probe.text[:160]}); vs split")
                bodies["csv"] = (bodies["csv"][0], bodies["columns"][1])
            frame = snapshots.head(size)

            def call_raw(f: pd.DataFrame = frame, e: bool = explain) -> None:
                model.score(f, explain=e)

            print(f"{size} record(s) per request, {n} requests, reasons {'on' if explain else 'off'}:")
            for form, ((api_body, api_type), (mlflow_body, mlflow_type)) in bodies.items():
                url = api_csv_url if api_type == csv_type else api_url

                def call_api(b: bytes = api_body, t: str = api_type, u: str = url) -> None:
                    client.post(u, content=b, headers={**headers, "Content-Type": t}).raise_for_status()

                def call_mlflow(b: bytes = mlflow_body, t: str = mlflow_type) -> None:
                    client.post(mlflow_url, content=b, headers={"Content-Type": t}).raise_for_status()

                for _ in range(1 if n < 30 else 3):  # warm-up
                    call_api()
                    call_mlflow()
                ours, theirs, raw = _time([call_api, call_mlflow, call_raw], n)
                print(_line(f"raw predict in-process ({form} run)", size, raw))
                print(_line(f"cma-predict API ({form})", size, ours))
                print(_line(f"mlflow models serve ({form})", size, theirs))
                print(
                    f"  {form}: p50 ratio API / mlflow serve: "
                    f"{np.percentile(ours, 50) / np.percentile(theirs, 50):.2f}; "
                    f"throughput ratio: {np.percentile(theirs, 50) / np.percentile(ours, 50):.2f}x; "
                    f"API / raw: {np.percentile(ours, 50) / np.percentile(raw, 50):.2f}"
                )
            if (
                size >= 1000 and not explain
            ):  # a batch with 1 % invalid records: reported by index, the others scored
                damaged = [dict(r, siret="123") if i % 100 == 0 else r for i, r in enumerate(records[:size])]
                partial = orjson.dumps(
                    {"columns": {c: [r[c] for r in damaged] for c in columns}, "explain": False}
                )

                def call_partial(b: bytes = partial, t: str = json_type) -> None:
                    client.post(api_url, content=b, headers={**headers, "Content-Type": t}).raise_for_status()

                errors = client.post(api_url, content=partial, headers={**headers, "Content-Type": json_type})
                (ms,) = _time([call_partial], n)
                print(
                    _line("cma-predict API (columns, 1 % invalid)", size, ms)
                    + f"  ({len(errors.json()['errors'])} records reported invalid)"
                )
        print(f"service resident memory after the run: {_rss_mb(api.pid):,.0f} MB")
        print(f"(reference date of the rows: {date.today()})")
    finally:
        _stop(api, served)


if __name__ == "__main__":
    main()
