"""Load bench of the scoring API: 1-record requests and 1,000-record requests with reasons (the default
request) sent at once by many clients, on loopback, bounded in time.

1. Idle: 1-record requests from one client (p50/p99), against `mlflow models serve` of the same champion
   too, and 1,000 records with reasons vs without.
2. The light clients alone (their p99 without the batches: the reference of the mix's ratio, since 16
   clients at once queue behind each other on any server), for a third of `--seconds`.
3. Mix, for `--seconds` (60): `--light` clients (16) sending 1-record requests under one key and `--heavy`
   clients (8) sending 1,000-record requests under another, at once.
It prints throughput, p50/p99 per kind, errors and timeouts, the ratios the issue sets (1-record p99 under
the mix / idle p99 <= 5; 1,000 records with / without reasons <= 5) and the server's resident memory before
and after the mix. The clients are `hey` (Debian package `hey`; `make bench` installs it), so the load
generator costs the 2 cores little.

Needs trained champions (`make run`). Usage: python bench/bench_load.py [--home var] [--seconds 60]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_service import (  # noqa: E402
    _free_port,
    _rss_mb,
    _stop,
    _wait,
    start_api,
    start_mlflow_serve,
)
from bench.machine import machine  # noqa: E402

TIMEOUT_S = 20  # hey's request timeout: a request over it counts as a timeout


@dataclass(frozen=True)
class Run:
    """What one `hey` run measured."""

    requests: int
    rate: float  # requests per second
    p50_ms: float
    p99_ms: float
    errors: int  # answers other than 200
    timeouts: int  # requests without an answer (timeouts, resets)
    codes: str  # hey's status code and error distribution, as it prints them

    def line(self, name: str) -> str:
        return (
            f"  {name:<44} {self.requests:>6} requests {self.rate:8.1f}/s  p50 {self.p50_ms:8.1f} ms  "
            f"p99 {self.p99_ms:8.1f} ms  errors {self.errors}  no answer {self.timeouts}"
            + (f"  ({self.codes})" if self.errors or self.timeouts else "")
        )


def _hey(url: str, key: str, body: Path, clients: int, *, count: int = 0, seconds: int = 0) -> list[str]:
    """The `hey` command line: `count` requests, or as many as `seconds` allow, from `clients` clients."""
    bound = ["-z", f"{seconds}s"] if seconds else ["-n", str(count)]
    return [
        "hey",
        *bound,
        "-c",
        str(clients),
        "-t",
        str(TIMEOUT_S),
        "-m",
        "POST",
        "-T",
        "application/json",
        "-H",
        f"X-API-Key: {key}",
        "-D",
        str(body),
        url,
    ]


def _parse(report: str) -> Run:
    """Figures of hey's summary: requests/s, the latency distribution, status codes and errors."""

    def number(pattern: str) -> float:
        found = re.search(pattern, report)
        return float(found.group(1)) if found else float("nan")

    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", report)}
    errors_block = report.split("Error distribution:", 1)[1] if "Error distribution:" in report else ""
    timeouts = sum(int(n) for n in re.findall(r"\[(\d+)\]", errors_block))
    return Run(
        requests=sum(codes.values()) + timeouts,
        rate=number(r"Requests/sec:\s+([\d.]+)"),
        p50_ms=number(r"50%+ in ([\d.]+) secs") * 1000,
        p99_ms=number(r"99%+ in ([\d.]+) secs") * 1000,
        errors=sum(n for c, n in codes.items() if c != 200),
        timeouts=timeouts,
        codes=" ".join(report.split("Status code distribution:", 1)[-1].split()),
    )


def _run(command: list[str]) -> Run:
    return _parse(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", default="var")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--light", type=int, default=16)
    parser.add_argument("--heavy", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("hey") is None:
        sys.exit("bench_load needs `hey` (Debian: apt-get install hey; `make bench` installs it)")
    home = Path(args.home).resolve()

    from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS
    from service.keys import KeyStore

    dataset = pd.read_parquet(home / "data" / "apprenticeship_host" / "dataset.parquet")
    rows = dataset[dataset["cutoff_date"] == dataset["cutoff_date"].max()].head(1_000)
    snapshots = rows[list(SNAPSHOT_COLUMNS)].reset_index(drop=True)
    frame = snapshots.assign(
        creation_date=snapshots["creation_date"].dt.strftime("%Y-%m-%d"),
        cutoff_date=snapshots["cutoff_date"].dt.strftime("%Y-%m-%d"),
    )
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    tmp = Path(tempfile.mkdtemp())
    bodies = {
        "one": orjson.dumps({"companies": records[:1]}),  # the default request: reasons on
        "batch": orjson.dumps({"companies": records}),
        "batch_plain": orjson.dumps({"companies": records, "explain": False}),
    }
    for name, body in bodies.items():
        (tmp / f"{name}.json").write_bytes(body)
    store = KeyStore(tmp / "keys.db")
    light_key, _ = store.create("agent", "bench light clients")
    heavy_key, _ = store.create("agent", "bench batch client")
    port = _free_port()
    server = start_api(home, tmp, port)
    url = f"http://127.0.0.1:{port}/v1/apprenticeship-host/scores"
    # The same champion behind `mlflow models serve`, for the 1-record reference (its pyfunc explains by
    # default, as the API does).
    import mlflow

    uri = f"sqlite:///{home / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    version = mlflow.MlflowClient().get_model_version_by_alias("apprenticeship_host", "champion").version
    (tmp / "one_mlflow.json").write_bytes(orjson.dumps({"dataframe_records": records[:1]}))
    mlflow_port = _free_port()
    reference = start_mlflow_serve(home, version, mlflow_port)
    print(f"machine: {machine()}; apprenticeship_host v{version}")
    try:
        _wait(f"http://127.0.0.1:{port}/health")
        _wait(f"http://127.0.0.1:{mlflow_port}/ping")
        mlflow_url = f"http://127.0.0.1:{mlflow_port}/invocations"
        _run(_hey(mlflow_url, "-", tmp / "one_mlflow.json", 1, count=200))
        served = _run(_hey(mlflow_url, "-", tmp / "one_mlflow.json", 1, count=1_000))
        _run(_hey(url, light_key, tmp / "one.json", 1, count=200))  # warm-up of every path
        _run(_hey(url, heavy_key, tmp / "batch.json", 2, count=10))
        idle = _run(_hey(url, light_key, tmp / "one.json", 1, count=1_000))
        with_reasons = _run(_hey(url, heavy_key, tmp / "batch.json", 1, count=40))
        without = _run(_hey(url, heavy_key, tmp / "batch_plain.json", 1, count=40))
        print("idle, one client:")
        print(idle.line("1 record, reasons on"))
        print(served.line("1 record, reasons on, mlflow models serve"))
        print(
            "1 record with reasons, p50 API / mlflow models serve: "
            f"{idle.p50_ms / served.p50_ms:.2f} (target <= 0.2)"
        )
        print(with_reasons.line("1,000 records, reasons on"))
        print(without.line("1,000 records, reasons off"))
        alone = _run(_hey(url, light_key, tmp / "one.json", args.light, seconds=max(5, args.seconds // 3)))
        print(alone.line(f"1 record, reasons on, {args.light} clients alone"))
        before = _rss_mb(server.pid)
        print(f"mix for {args.seconds} s: {args.light} clients x 1 record, {args.heavy} x 1,000 records:")
        light = subprocess.Popen(
            _hey(url, light_key, tmp / "one.json", args.light, seconds=args.seconds),
            stdout=subprocess.PIPE,
            text=True,
        )
        heavy = subprocess.Popen(
            _hey(url, heavy_key, tmp / "batch.json", args.heavy, seconds=args.seconds),
            stdout=subprocess.PIPE,
            text=True,
        )
        samples = []  # the server's memory every 10 s of the mix: a plateau, or a leak
        while light.poll() is None or heavy.poll() is None:
            time.sleep(10)
            samples.append(_rss_mb(server.pid))
        light_out, heavy_out = light.communicate()[0], heavy.communicate()[0]
        light_run, heavy_run = _parse(light_out), _parse(heavy_out)

        time.sleep(2)  # the last answers written, the threads idle again
        after = _rss_mb(server.pid)
        print(light_run.line("1 record, reasons on"))
        print(heavy_run.line("1,000 records, reasons on"))
        print(
            f"records scored per second under the mix: {light_run.rate + heavy_run.rate * 1_000:,.0f}; "
            f"errors {light_run.errors + heavy_run.errors}, "
            f"no answer {light_run.timeouts + heavy_run.timeouts}"
        )
        print(
            f"1-record p99 under the mix / without the batches (the same {args.light} clients alone): "
            f"{light_run.p99_ms / alone.p99_ms:.2f} (target <= 5); / one idle client: "
            f"{light_run.p99_ms / idle.p99_ms:.2f}"
        )
        print(
            f"1,000 records with / without reasons (idle p50): {with_reasons.p50_ms / without.p50_ms:.2f} "
            "(target <= 5)"
        )
        print("server resident memory during the mix, every 10 s: " + ", ".join(f"{m:,.0f}" for m in samples))
        print(
            f"server resident memory: {before:,.0f} MB before the mix, {after:,.0f} MB after "
            f"({(after / before - 1) * 100:+.1f} %, target within 10 %)"
        )
    finally:
        _stop(server, reference)


if __name__ == "__main__":
    main()
