"""Benchmark of what monitoring adds to a score: keeping a batch's predictions (prediction ids, input bins,
groups, pseudonymous keys) in the monitoring store, next to scoring the same batch with its reasons (the
default request) in the same run; then the drift state `/ready` computes over the latest window, joining a
batch of outcomes, and the monitoring report's figures over a year of kept scores.

A small dropout_risk champion is trained into a temporary folder (SYNTHETIC data, the training-centre
simulator) unless `--home` names a project folder that has one; the store is a SQLite file in a temporary
folder (WAL, as the service opens it). Prints figures; asserts nothing.

Usage: `python bench/bench_monitoring.py [--home var] [--rows 100000] [--repeat 5]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402

MODEL = "dropout_risk"


def _train(home: Path) -> None:
    from pipelines.runner import load_family_config, train_model
    from pipelines.tracking import configure_tracking

    os.environ["CMA_PREDICT_HOME"] = str(home)
    configure_tracking()
    config = load_family_config(
        MODEL, overrides=["simulation.n_contracts=20000", "lightgbm.min_data_in_leaf=50"]
    )
    rows, _ = train_model(MODEL, config, home)
    rows.to_parquet(home / "bench_dropout.parquet")


def _best(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, best) milliseconds of `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--rows", type=int, default=100_000, help="kept scores the report is computed on")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

    import numpy as np
    import pandas as pd

    from models.monitoring import DriftThresholds
    from pipelines.monitor import monitoring_figures
    from pipelines.tracking import configure_tracking
    from service.model_registry import ModelRegistry
    from service.monitoring import Monitor, MonitoringStore, band_field, new_prediction_ids
    from service.validation import validate

    tmp = Path(tempfile.mkdtemp(prefix="cma-bench-monitoring-"))
    home = args.home or tmp / "home"
    dataset_file = home / "bench_dropout.parquet"
    if args.home is None or not dataset_file.exists():
        home.mkdir(parents=True, exist_ok=True)
        _train(home)
    os.environ["CMA_PREDICT_HOME"] = str(home)
    configure_tracking()
    loaded = ModelRegistry(discover=False).load(MODEL)
    rows = pd.read_parquet(dataset_file)
    from models.dropout_risk.dataset import SNAPSHOT_COLUMNS

    snapshots = rows[list(SNAPSHOT_COLUMNS)]
    print(machine())
    print(f"{MODEL} v{loaded.version}, reference profile: {loaded.profile is not None}")

    timing = MonitoringStore(tmp / "timing.db")  # the timed batches: not part of the year below
    store = MonitoringStore(tmp / "monitoring.db")
    band = band_field(loaded.model)
    answer_path = Monitor(timing, DriftThresholds(), window=5_000, cache_seconds=0.0)
    print("rows   | score with reasons (ms) | on the answer's path (ms) | writer (ms) | writer / score")
    for n in (1, 100, 10_000):
        frame = snapshots.sample(n, replace=True, random_state=n).reset_index(drop=True)
        batch = validate(frame.to_dict("records"), loaded.schemas.record)
        scored = loaded.model.score(batch.rows(), explain=True)
        probabilities = np.asarray(scored["probability"], dtype=np.float64)
        bands = list(scored[band]) if band else None

        def score(b: object = batch) -> object:
            return loaded.model.score(b.rows(), explain=True)  # type: ignore[attr-defined]

        def keep(
            b: object = batch, p: object = probabilities, k: object = bands, size: int = len(batch)
        ) -> None:
            timing.record(loaded, b.as_frame(), p, new_prediction_ids(size), "champion", "bench", k)  # type: ignore[arg-type, attr-defined]

        def queued(b: object = batch, p: object = probabilities, k: object = bands) -> None:
            answer_path.keep(loaded, b, p, k)  # type: ignore[arg-type]

        score_ms, _ = _best(score, args.repeat)
        keep_ms, _ = _best(keep, args.repeat)
        path_ms, _ = _best(queued, args.repeat)
        answer_path.flush()
        print(
            f"{n:>6} | {score_ms:>23.1f} | {path_ms:>25.2f} | {keep_ms:>11.1f} | {keep_ms / score_ms:>14.2f}"
        )

    # A year of kept scores (the report's input) with outcomes for most of them.
    year = snapshots.sample(args.rows, replace=True, random_state=1).reset_index(drop=True)
    months = pd.date_range("2025-01-01", periods=12, freq="MS")
    year["prediction_date"] = months[np.arange(len(year)) % 12]
    start = time.perf_counter()
    kept_rows = 0
    ids_all: list[str] = []
    probabilities_all: list[float] = []
    for part in np.array_split(np.arange(len(year)), max(1, len(year) // 10_000)):
        frame = year.iloc[part].reset_index(drop=True)
        batch = validate(frame.to_dict("records"), loaded.schemas.record)
        scored = loaded.model.score(batch.rows(), explain=False)
        p = np.asarray(scored["probability"], dtype=np.float64)
        ids = new_prediction_ids(len(batch))
        store.record(
            loaded, batch.as_frame(), p, ids, "champion", "bench", list(scored[band]) if band else None
        )
        ids_all += ids.tolist()
        kept_rows += len(batch)
        probabilities_all += p.tolist()
    fill_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    outcomes = [
        {"prediction_id": i, "outcome": int(rng.random() < p), "outcome_date": "2026-06-30"}
        for i, p in zip(ids_all[: len(ids_all) * 9 // 10], probabilities_all, strict=False)
    ]
    start = time.perf_counter()
    for chunk in range(0, len(outcomes), 10_000):
        store.add_outcomes(MODEL, outcomes[chunk : chunk + 10_000], "bench")
    outcomes_s = time.perf_counter() - start
    print(
        f"{kept_rows:,} valid of {len(year):,} records scored and kept in {fill_s:.1f} s; {len(outcomes):,} "
        f"outcomes joined in "
        f"{outcomes_s:.1f} s ({len(outcomes) / outcomes_s:,.0f}/s, by 10,000)"
    )

    monitor = Monitor(store, DriftThresholds(), window=5_000, cache_seconds=0.0)
    drift_ms, _ = _best(lambda: monitor.drift(loaded), args.repeat)
    print(f"drift state over the latest 5,000 scores (what /ready and /metrics compute): {drift_ms:.1f} ms")

    start = time.perf_counter()
    kept = store.predictions(MODEL)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    figures = monitoring_figures(kept, loaded.profile, DriftThresholds())
    figures_s = time.perf_counter() - start
    print(f"report over {len(kept):,} kept scores: read {read_s:.1f} s, figures {figures_s:.1f} s")
    print(figures.overall.to_string())
    print(figures.by_period.to_string())
    print(figures.capture.to_string())


if __name__ == "__main__":
    main()
