"""Benchmark of `cma-predict score` (the local batch engine) on simulated companies: Parquet in, validate and
score by the API's path, Parquet out, next to the raw in-process predict (`model.score` of the same rows,
already in memory as a typed frame) in the same run, with rows per second and peak resident memory.

Each stage runs in its own process so that its peak resident memory is its own: `make` simulates the
companies (SYNTHETIC, the host simulator at one cut-off) and writes the Parquet file, `raw` reads it whole
and times `score` alone, `batch` times the whole job (read, validate, score, write). Prints figures;
asserts nothing. A small champion is trained into a temporary folder unless `--home` names a project folder
that has one.

Usage: `python bench/bench_batch.py [--companies 2000000] [--batch-rows 100000] [--home var]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import machine, peak_rss_mb  # noqa: E402

MODEL = "apprenticeship_host"


def stage_make(companies: int, path: Path) -> dict[str, float]:
    """Simulated company snapshots at the last cut-off, written as Parquet (row groups of 100,000)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS, build_host_dataset
    from models.simulation.chamber import ChamberSimulationParams, simulate_chamber
    from pipelines.reference import load_reference

    start = time.perf_counter()
    params = ChamberSimulationParams(n_companies=companies, n_years=1, first_year=2024, seed=5)
    chamber = simulate_chamber(load_reference(), params)
    rows = build_host_dataset(chamber.companies, chamber.contracts, date(2024, 1, 1))
    table = pa.Table.from_pandas(rows[list(SNAPSHOT_COLUMNS)], preserve_index=False)
    pq.write_table(table, path, row_group_size=100_000)
    return {"rows": table.num_rows, "seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}


def _loaded() -> object:
    from pipelines.batch import load_model
    from pipelines.tracking import configure_tracking

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    configure_tracking()
    return load_model(MODEL)


def stage_raw(path: Path) -> dict[str, float]:
    """The model's `score` of every row at once, from a typed frame already in memory."""
    import pandas as pd

    loaded = _loaded()
    frame = pd.read_parquet(path)
    start = time.perf_counter()
    scored = loaded.model.score(frame, explain=False)  # type: ignore[attr-defined]
    seconds = time.perf_counter() - start
    return {"rows": len(scored["probability"]), "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def stage_batch(path: Path, out: Path, batch_rows: int, kept: Path | None = None) -> dict[str, float]:
    """The batch job end to end: read Parquet by batches, validate, score, write Parquet; with `kept`, the
    scores kept for monitoring in that SQLite file (`cma-predict score`'s default; `--no-keep` without)."""
    from pipelines.batch import score_files
    from service.monitoring import MonitoringStore

    loaded = _loaded()
    store = MonitoringStore(kept) if kept is not None else None
    start = time.perf_counter()
    report = score_files(loaded, [path], out, reasons=False, batch_rows=batch_rows, keep=store)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    return {
        "rows": report.rows,
        "scored": report.scored,
        "quarantined": report.quarantined,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
    }


def _run(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _train(home: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pipelines", "train", "--set", "simulation.n_companies=20000"],
        check=True,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "CMA_PREDICT_HOME": str(home)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", choices=["make", "raw", "batch"])
    parser.add_argument("--kept", type=Path, help="--stage batch: keep the scores in this monitoring file")
    parser.add_argument("--companies", type=int, default=2_000_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--home", type=Path, help="A project folder with an apprenticeship_host champion")
    parser.add_argument("--path", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.stage == "make":
        print(json.dumps(stage_make(args.companies, args.path)))
        return
    if args.stage == "raw":
        print(json.dumps(stage_raw(args.path)))
        return
    if args.stage == "batch":
        print(json.dumps(stage_batch(args.path, args.out, args.batch_rows, args.kept)))
        return
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        folder = Path(tmp)
        home = args.home.resolve() if args.home else folder / "home"
        os.environ["CMA_PREDICT_HOME"] = str(home)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        if args.home is None:
            start = time.perf_counter()
            _train(home)
            print(
                f"trained a small {MODEL} champion (20,000 companies) in {time.perf_counter() - start:.0f} s"
            )
        path, out = folder / "companies.parquet", folder / "scores.parquet"
        made = _run("--stage", "make", "--companies", str(args.companies), "--path", str(path))
        print(
            f"input: {made['rows']:,.0f} SYNTHETIC company snapshots ({args.companies:,} simulated) "
            f"in {made['seconds']:.0f} s, {path.stat().st_size / 1e6:,.0f} MB of Parquet"
        )
        raw = _run("--stage", "raw", "--path", str(path))
        batch = _run(
            "--stage", "batch", "--path", str(path), "--out", str(out), "--batch-rows", str(args.batch_rows)
        )
        ratio = batch["seconds"] / raw["seconds"]
        print(
            f"raw in-process score of the frame in memory: {raw['rows']:,.0f} rows in {raw['seconds']:.1f} s "
            f"({raw['rows'] / raw['seconds']:,.0f} rows/s), peak RSS {raw['peak_rss_mb']:,.0f} MB"
        )
        print(
            f"cma-predict score (Parquet in, validate, score, Parquet out, batches of {args.batch_rows:,}): "
            f"{batch['rows']:,.0f} rows in {batch['seconds']:.1f} s ({batch['rows'] / batch['seconds']:,.0f} "
            f"rows/s), {batch['quarantined']:,.0f} quarantined, peak RSS {batch['peak_rss_mb']:,.0f} MB; "
            f"end to end / raw = {ratio:.2f} [{'ok' if ratio <= 1.5 else 'ABOVE 1.5'}], peak RSS "
            f"[{'ok' if batch['peak_rss_mb'] < 2048 else 'ABOVE 2 GB'}]"
        )
        kept = _run(
            *("--stage", "batch", "--path", str(path), "--out", str(out)),
            *("--batch-rows", str(args.batch_rows), "--kept", str(folder / "monitoring.db")),
        )
        print(
            f"the same, each score kept for monitoring with its prediction id (the default; the lines above: "
            f"--no-keep): {kept['rows'] / kept['seconds']:,.0f} rows/s, "
            f"{kept['seconds'] / batch['seconds']:.2f} x the time without, "
            f"peak RSS {kept['peak_rss_mb']:,.0f} MB"
        )


if __name__ == "__main__":
    main()
