"""Benchmark of the apprenticeship_host pipeline: simulation, dataset build, training, with peak memory.

Each stage runs in its own process so that its peak resident memory is its own. Prints figures; asserts
nothing. Usage: `python bench/bench_apprenticeship_host.py [--companies 2000000] [--train-companies 430000]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import machine, peak_rss_mb  # noqa: E402


def stage_simulate(companies: int) -> dict[str, float]:
    from models.simulation.chamber import ChamberSimulationParams, simulate_chamber
    from pipelines.reference import load_reference

    reference = load_reference()
    start = time.perf_counter()
    chamber = simulate_chamber(reference, ChamberSimulationParams(n_companies=companies, n_years=5))
    elapsed = time.perf_counter() - start
    return {
        "seconds": elapsed,
        "companies": companies,
        "contracts": len(chamber.contracts),
        "company_years": len(chamber.company_years),
        "peak_rss_mb": peak_rss_mb(),
    }


def stage_build_and_train(companies: int) -> dict[str, float]:
    import lightgbm as lgb
    import numpy as np

    from models.apprenticeship_host.dataset import LABEL, build_host_datasets
    from models.apprenticeship_host.features import CATEGORICAL_FEATURES, FEATURES
    from models.apprenticeship_host.training import fit_host_model, split_by_cutoff
    from models.estimator import LightGBMParams
    from models.evaluation import evaluate_against_oracle
    from models.simulation.chamber import ChamberSimulationParams, simulate_chamber
    from pipelines.reference import load_reference

    reference = load_reference()
    chamber = simulate_chamber(reference, ChamberSimulationParams(n_companies=companies, n_years=5))
    cutoffs = [date(y, 1, 1) for y in range(2020, 2025)]
    start = time.perf_counter()
    dataset = build_host_datasets(chamber.companies, chamber.contracts, cutoffs)
    build_s = time.perf_counter() - start
    dataset = dataset.merge(
        chamber.company_years[["siret", "cutoff_date", "oracle_probability"]],
        on=["siret", "cutoff_date"],
        validate="one_to_one",
    )
    train, valid, test = split_by_cutoff(dataset)
    params = LightGBMParams()
    start = time.perf_counter()
    model, info = fit_host_model(train, valid, reference, params)
    fit_s = time.perf_counter() - start
    metrics = evaluate_against_oracle(
        test[LABEL].to_numpy(), model.predict_proba(test), test["oracle_probability"].to_numpy()
    )

    # Reference: raw LightGBM on the same encoded matrix, same rounds, no early stopping nor calibration.
    x = model.encoder.transform(train)
    start = time.perf_counter()
    raw = lgb.Dataset(
        x,
        train[LABEL].to_numpy(),
        feature_name=list(FEATURES),
        categorical_feature=[FEATURES.index(c) for c in CATEGORICAL_FEATURES],
    )
    lgb.train(params.booster_params(), raw, num_boost_round=info.best_iteration)
    raw_s = time.perf_counter() - start
    return {
        "dataset_rows": len(dataset),
        "build_seconds": build_s,
        "build_seconds_per_million": build_s / len(dataset) * 1e6,
        "train_rows": len(train),
        "valid_rows": len(valid),
        "test_rows": len(test),
        "fit_seconds": fit_s,
        "raw_lightgbm_seconds": raw_s,
        "best_iteration": info.best_iteration,
        "roc_auc": metrics["roc_auc"],
        "oracle_roc_auc": metrics["oracle_roc_auc"],
        "roc_auc_vs_oracle": metrics["roc_auc_vs_oracle"],
        "lift_at_10pct_vs_oracle": metrics["lift_at_10pct_vs_oracle"],
        "ece": metrics["ece"],
        "peak_rss_mb": peak_rss_mb(),
        "threads": float(np.float64(os.cpu_count() or 0)),
    }


def _run_stage(name: str, companies: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--stage", name, "--companies", str(companies)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", choices=["simulate", "train"])
    parser.add_argument("--companies", type=int, default=2_000_000)
    parser.add_argument("--train-companies", type=int, default=430_000)
    args = parser.parse_args()
    if args.stage == "simulate":
        print(json.dumps(stage_simulate(args.companies)))
        return
    if args.stage == "train":
        print(json.dumps(stage_build_and_train(args.companies)))
        return
    print(f"machine: {machine()}")
    sim = _run_stage("simulate", args.companies)
    print(
        f"simulate: {sim['companies']:,.0f} companies x 5 years (+3 history years): {sim['seconds']:.1f} s, "
        f"{sim['contracts']:,.0f} contracts, {sim['company_years']:,.0f} company-years, "
        f"peak RSS {sim['peak_rss_mb']:,.0f} MB"
    )
    tr = _run_stage("train", args.train_companies)
    print(
        f"build-dataset: {tr['dataset_rows']:,.0f} company-years in {tr['build_seconds']:.1f} s "
        f"({tr['build_seconds_per_million']:.1f} s per million)"
    )
    print(
        f"train: {tr['train_rows']:,.0f} training + {tr['valid_rows']:,.0f} validation company-years: "
        f"{tr['fit_seconds']:.1f} s ({tr['best_iteration']:.0f} trees, early stopping + calibration) vs raw "
        f"LightGBM on the same matrix and rounds {tr['raw_lightgbm_seconds']:.1f} s; peak RSS "
        f"{tr['peak_rss_mb']:,.0f} MB"
    )
    print(
        f"quality on {tr['test_rows']:,.0f} test companies: ROC AUC {tr['roc_auc']:.4f} (oracle "
        f"{tr['oracle_roc_auc']:.4f}, ratio {tr['roc_auc_vs_oracle']:.3f}), lift@10% ratio "
        f"{tr['lift_at_10pct_vs_oracle']:.3f}, ECE {tr['ece']:.4f}"
    )


if __name__ == "__main__":
    main()
