"""Model quality on SYNTHETIC data in the national formats, against the oracle (the true probability given
what the formats tell at prediction time), at any size: simulate the exports (SIFA, ERP v3, DECA for a
training centre; RNE and DECA for a chamber), import them as a chamber would, train, and print the test ROC
AUC of the champion, the oracle's on the same rows, and the ratio above chance (target: at least 0.95).

Usage (a few minutes at the defaults on 2 cores; everything in a temporary folder):
    python bench/bench_national.py [--contracts 100000] [--companies 20000] [--search]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from mlflow import MlflowClient
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from pipelines.cli import app  # noqa: E402

SECRET = "bench-secret-0123456789"
runner = CliRunner()


def cli(*args: str) -> str:
    """One `cma-predict` command, stopped with its output when it fails."""
    result = runner.invoke(app, list(args))
    if result.exit_code != 0:
        raise SystemExit(f"cma-predict {args[0]} failed:\n{result.output}")
    return result.output


def champion_metrics(home: Path, name: str) -> dict[str, float]:
    """The metrics of the latest run of registered model `name` (test metrics: `test_<name>`)."""
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    version = max(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))
    if version.run_id is None:
        raise SystemExit(f"{name} v{version.version} has no run")
    return client.get_run(version.run_id).data.metrics


def line(what: str, metrics: dict[str, float], seconds: float) -> str:
    auc, oracle = metrics["test_roc_auc"], metrics["test_oracle_roc_auc"]
    ratio = metrics["test_roc_auc_vs_oracle"]
    verdict = "ok" if ratio >= 0.95 else "BELOW 0.95"
    return (
        f"{what}: ROC AUC {auc:.4f}, oracle {oracle:.4f}, above chance {ratio:.3f} of the oracle's "
        f"[{verdict}] ({seconds:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=100_000, help="Simulated apprenticeship contracts")
    parser.add_argument("--companies", type=int, default=20_000, help="Simulated artisan companies")
    parser.add_argument("--search", action="store_true", help="Turn the hyperparameter search on")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ.update(CMA_PSEUDONYM_KEY=SECRET, CMA_PREDICT_HOME=str(folder / "home"))
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        search = ["--set", "search.enabled=true"] if args.search else []

        start = time.perf_counter()
        files = folder / "dropout"
        cli("simulate", "--model", "dropout_risk", "--layout", "national", "--contracts", str(args.contracts),
            "--out", str(files))  # fmt: skip
        exports = [*(str(p) for p in sorted(files.glob("sifa_*"))), str(files / "erp.ndjson")]
        cli("import", *exports, str(files / "deca.ndjson"), "--out", str(folder / "import"),
            "--as-of", "2026-12-31", "--name", "bench", "--oracle", str(files / "oracle.csv"))  # fmt: skip
        out = folder / "import"
        cli("train-extract", "--data", str(out / "dropout_training_set.csv"),
            "--config", str(out / "dropout_training_set.yaml"), *search)  # fmt: skip
        dropout = champion_metrics(folder / "home", "dropout_risk_bench")
        print(line(f"dropout_risk, {args.contracts:,} contracts", dropout, time.perf_counter() - start))

        start = time.perf_counter()
        chamber = folder / "host"
        cli("simulate", "--model", "apprenticeship_host", "--layout", "national",
            "--companies", str(args.companies), "--out", str(chamber))  # fmt: skip
        cutoffs = [f"--cutoff={year}-01-01" for year in range(2020, 2025)]
        cli("build-dataset", "--companies", str(chamber / "rne.json"), "--contracts",
            str(chamber / "deca.ndjson"), *cutoffs, "--out", str(chamber / "dataset.parquet"),
            "--oracle", str(chamber / "oracle.csv"))  # fmt: skip
        cli("train", "--model", "apprenticeship_host", "--dataset", str(chamber / "dataset.parquet"),
            "--set", "lightgbm.min_data_in_leaf=50", *search)  # fmt: skip
        host = champion_metrics(folder / "home", "apprenticeship_host")
        print(line(f"apprenticeship_host, {args.companies:,} companies", host, time.perf_counter() - start))


if __name__ == "__main__":
    main()
