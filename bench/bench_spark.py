"""Benchmark of batch scoring on Spark `local[2]` (`pipelines.spark.score_spark`) next to the raw in-process
predict of the same rows in the same run: rows per second and peak resident memory.

The rows are the host simulator's scoring rows (every company open at the last cut-off, SYNTHETIC),
repeated up to `--rows` and written as one Parquet file; the model is a small apprenticeship_host trained in
a temporary registry. Each engine runs in its own process; peak memory is the peak of the sum of resident
memory over its process tree (for Spark: driver Python, JVM, Python workers), sampled every 0.2 s.
Prints figures; asserts nothing. Usage:
    python bench/bench_spark.py [--rows 2000000] [--companies 100000] [--reasons]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import machine, peak_rss_mb  # noqa: E402


def prepare(folder: Path, rows: int, companies: int) -> tuple[str, Path]:
    """Train a small host model in `folder`'s registry and write `rows` scoring rows; (model URI, Parquet)."""
    import pandas as pd

    from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS, build_host_dataset
    from models.simulation.chamber import ChamberSimulationParams, simulate_chamber
    from pipelines.reference import load_reference
    from pipelines.runner import load_family_config, train_model
    from pipelines.tracking import configure_tracking

    configure_tracking(folder)
    config = load_family_config(
        "apprenticeship_host", overrides=["simulation.n_companies=5000", "lightgbm.min_data_in_leaf=20"]
    )
    _, results = train_model("apprenticeship_host", config, folder / "quarantine")
    uri = f"models:/{results[0].name}/{results[0].decision.version}"
    chamber = simulate_chamber(load_reference(), ChamberSimulationParams(n_companies=companies, n_years=5))
    snapshot = build_host_dataset(chamber.companies, chamber.contracts, date(2024, 1, 1))[
        list(SNAPSHOT_COLUMNS)
    ]
    repeated = pd.concat([snapshot] * (rows // len(snapshot) + 1), ignore_index=True).head(rows)
    path = folder / "rows.parquet"
    repeated.assign(row_id=range(len(repeated))).to_parquet(path, index=False)
    return uri, path


def stage_raw(uri: str, source: Path, reasons: bool) -> dict[str, float]:
    """Read the Parquet file, `predict` every row in this process (the pyfunc, as loaded by MLflow)."""
    import mlflow
    import pandas as pd

    from pipelines.tracking import configure_tracking

    configure_tracking()
    model = mlflow.pyfunc.load_model(uri)
    start = time.perf_counter()
    rows = pd.read_parquet(source)
    scored = model.predict(rows.drop(columns=["row_id"]), params={"explain": reasons})
    seconds = time.perf_counter() - start
    return {
        "rows": len(scored),
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "mean": scored["probability"].mean(),
    }


def stage_spark(uri: str, source: Path, out: Path, reasons: bool) -> dict[str, float]:
    """`score_spark` end to end (session start included): Parquet in, Parquet out."""
    from pipelines.spark import score_spark, spark_session
    from pipelines.tracking import configure_tracking

    configure_tracking()
    start = time.perf_counter()
    session = spark_session("local[2]")  # started apart to tell its cost; score_spark uses it
    session_seconds = time.perf_counter() - start
    report = score_spark(uri, [source], out, key_columns=["row_id", "siret"], reasons=reasons)
    seconds = time.perf_counter() - start
    session.stop()
    import pandas as pd

    mean = float(pd.read_parquet(out, columns=["probability"])["probability"].mean())
    return {
        "rows": report.rows_scored,
        "seconds": seconds,
        "session_seconds": session_seconds,
        "job_seconds": report.seconds,
        "mean": mean,
    }


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and all its descendants, in MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total


def _run(args: list[str], env: dict[str, str]) -> tuple[dict[str, float], float]:
    """One stage in its own process: its JSON result and the peak RSS of its process tree (MB)."""
    process = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"stage {args[:2]} failed ({process.returncode})")
    return json.loads(stdout.strip().splitlines()[-1]), peak[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", choices=["raw", "spark"])
    parser.add_argument("--uri")
    parser.add_argument("--source", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--companies", type=int, default=100_000, help="Simulated companies (rows repeat)")
    parser.add_argument("--reasons", action="store_true", help="Explain every score (much slower)")
    args = parser.parse_args()
    if args.stage == "raw":
        print(json.dumps(stage_raw(args.uri, args.source, args.reasons)))
        return
    if args.stage == "spark":
        print(json.dumps(stage_spark(args.uri, args.source, args.out, args.reasons)))
        return
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "CMA_PREDICT_HOME": str(folder)}
        env.pop("MLFLOW_TRACKING_URI", None)
        os.environ.update({"CMA_PREDICT_HOME": str(folder)})
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        start = time.perf_counter()
        uri, source = prepare(folder, args.rows, args.companies)
        size = source.stat().st_size / 2**20
        took = time.perf_counter() - start
        print(f"prepared {uri} and {args.rows:,} rows ({size:,.0f} MB Parquet) in {took:.0f} s")
        common = ["--uri", uri, "--source", str(source), *(["--reasons"] if args.reasons else [])]
        raw, raw_peak = _run(["--stage", "raw", *common], env)
        spark, spark_peak = _run(["--stage", "spark", *common, "--out", str(folder / "scores.parquet")], env)
    what = "with reasons" if args.reasons else "without reasons"
    print(
        f"raw in-process predict ({what}): {raw['rows']:,.0f} rows in {raw['seconds']:.1f} s "
        f"({raw['rows'] / raw['seconds']:,.0f} rows/s), peak RSS {raw['peak_rss_mb']:,.0f} MB"
    )
    print(
        f"Spark local[2] score_spark ({what}, Parquet in and out, session start included): "
        f"{spark['rows']:,.0f} rows in {spark['seconds']:.1f} s "
        f"({spark['rows'] / spark['seconds']:,.0f} rows/s), "
        f"{spark['seconds'] / raw['seconds']:.2f} x the raw predict (session start "
        f"{spark['session_seconds']:.1f} s, then UDF and model load, read, score and write "
        f"{spark['job_seconds']:.1f} s); peak RSS of its process tree "
        f"(driver, JVM, workers) {spark_peak:,.0f} MB (raw stage's tree {raw_peak:,.0f} MB)"
    )
    print(f"mean probability: raw {raw['mean']:.9f}, Spark {spark['mean']:.9f}")


if __name__ == "__main__":
    main()
