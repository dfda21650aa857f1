"""`cma-predict`: the command line of the CMA predictive service (simulate, build, train, evaluate, run)."""

from __future__ import annotations

import logging
import os
import time
import warnings
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from models.contracts import ContractError
from pipelines.config import load_host_config
from pipelines.reference import load_reference

if TYPE_CHECKING:
    from pipelines.config import HostPipelineConfig
    from pipelines.host import TrainResult

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()
err_console = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Pipeline YAML (default: pipelines/configs/...)")
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="Override a config key: --set simulation.seed=7")
]


def _setup(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("alembic", "mlflow", "matplotlib", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _home() -> Path:
    from pipelines.tracking import project_home

    return project_home()


def _metrics_table(title: str, metrics: dict[str, float]) -> Table:
    from models.model_card import METRIC_LABELS

    has_oracle = any(k.startswith("oracle_") for k in metrics)
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("model", justify="right")
    if has_oracle:
        table.add_column("oracle", justify="right")
        table.add_column("model / oracle", justify="right")
    for key, label in METRIC_LABELS.items():
        if key not in metrics:
            continue
        row = [label, f"{metrics[key]:.4f}"]
        if has_oracle:
            oracle = metrics.get(f"oracle_{key}")
            row.append(f"{oracle:.4f}" if oracle is not None else "")
            ratio = metrics.get(f"{key}_vs_oracle")
            row.append(f"{ratio:.3f}" if ratio is not None else "")
        table.add_row(*row)
    return table


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


@app.command()
def simulate(
    companies: Annotated[int, typer.Option(help="Number of companies")] = 50_000,
    years: Annotated[int, typer.Option(help="Observed cut-off years")] = 5,
    first_year: Annotated[int, typer.Option(help="First observed year")] = 2020,
    seed: Annotated[int, typer.Option(help="Random seed")] = 42,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default var/data/apprenticeship_host)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    verbose: bool = False,
) -> None:
    """Simulate a chamber's companies and apprenticeship contracts (SYNTHETIC, with the oracle)."""
    _setup(verbose)
    from models.simulation.chamber import ChamberSimulationParams, simulate_chamber
    from pipelines.host import data_dir, write_chamber

    if fmt not in ("parquet", "csv"):
        raise _fail("--format must be parquet or csv")
    params = ChamberSimulationParams(n_companies=companies, n_years=years, first_year=first_year, seed=seed)
    target = out or data_dir(_home())
    with _progress() as progress:
        total = params.history_years + params.n_years
        task = progress.add_task(f"Simulating {companies:,} companies x {total} years", total=total)
        start = time.perf_counter()
        chamber = simulate_chamber(load_reference(), params, on_year=lambda _: progress.advance(task))
        progress.update(task, description="Writing files")
        paths = write_chamber(chamber, target, fmt)
    console.print(
        f"SYNTHETIC chamber: {len(chamber.companies):,} companies, {len(chamber.contracts):,} contracts, "
        f"{len(chamber.company_years):,} company-years in {time.perf_counter() - start:.1f} s"
    )
    for path in paths:
        console.print(f"  {path}")


@app.command("simulator-report")
def simulator_report(
    companies: Annotated[int, typer.Option(help="Number of companies")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 42,
    verbose: bool = False,
) -> None:
    """Print, as Markdown, each published figure the simulator is calibrated on next to its simulated rate."""
    _setup(verbose)
    from models.simulation.chamber import ChamberSimulationParams, calibration_report, simulate_chamber

    params = ChamberSimulationParams(n_companies=companies, seed=seed)
    reference = load_reference()
    with _progress() as progress:
        progress.add_task(f"Simulating {companies:,} companies", total=None)
        report = calibration_report(simulate_chamber(reference, params), reference, params)
    lines = ["| figure | published | simulated | gap (points) | source |", "|---|---|---|---|---|"]
    for row in report.itertuples(index=False):
        lines.append(
            f"| {row.figure} | {row.published:.1%} | {row.simulated:.1%} | {row.gap_points:+.1f} "
            f"| {row.source} |"
        )
    console.print("\n".join(lines), soft_wrap=True, highlight=False, markup=False)


@app.command("build-dataset")
def build_dataset_cmd(
    companies: Annotated[Path, typer.Option(help="Companies file (CSV or Parquet, COMPANIES contract)")],
    contracts: Annotated[Path, typer.Option(help="Contracts file (APPRENTICESHIP_CONTRACTS contract)")],
    cutoff: Annotated[list[str], typer.Option(help="Cut-off date YYYY-MM-DD (repeat for several)")],
    out: Annotated[Path, typer.Option(help="Output dataset (.parquet or .csv)")],
    oracle: Annotated[
        Path | None, typer.Option(help="Simulator oracle file to join (synthetic data)")
    ] = None,
    verbose: bool = False,
) -> None:
    """Build the point-in-time dataset (features before each cut-off, label in the 12 months after)."""
    _setup(verbose)
    from models.contracts import APPRENTICESHIP_CONTRACTS, COMPANIES
    from pipelines.host import ChamberRecords, build_dataset
    from pipelines.io import read_validated, write_table

    try:
        cutoffs = [date.fromisoformat(c) for c in cutoff]
    except ValueError as err:
        raise _fail(f"--cutoff: {err} (expected YYYY-MM-DD)") from err
    reference = load_reference()
    quarantine = out.parent / "quarantine"
    try:
        with _progress() as progress:
            task = progress.add_task("Validating companies", total=None)
            firms, rep1 = read_validated(companies, COMPANIES, reference, quarantine)
            progress.update(task, description="Validating contracts")
            deals, rep2 = read_validated(contracts, APPRENTICESHIP_CONTRACTS, reference, quarantine)
            oracle_frame = (
                pd.read_parquet(oracle)
                if oracle and oracle.suffix == ".parquet"
                else (
                    pd.read_csv(oracle, parse_dates=["cutoff_date"], dtype={"siret": str}) if oracle else None
                )
            )
            progress.update(task, description=f"Building {len(cutoffs)} cut-off(s)")
            dataset = build_dataset(ChamberRecords(firms, deals, oracle_frame), cutoffs)
            write_table(dataset, out)
    except ContractError as err:
        raise _fail(str(err)) from err
    for rep in (rep1, rep2):
        console.print(rep.summary(max_lines=5))
        if rep.n_invalid:
            console.print(f"  quarantine: {quarantine / (rep.source + '.quarantine.csv')}")
    console.print(f"{len(dataset):,} company-years written to {out}")


@app.command()
def train(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dataset: Annotated[Path | None, typer.Option(help="Prebuilt dataset (skips simulation/reading)")] = None,
    verbose: bool = False,
) -> None:
    """Train, evaluate against the oracle, log to MLflow, register and promote if better."""
    _setup(verbose)
    from pipelines.tracking import configure_tracking

    try:
        cfg = load_host_config(config, set_)
    except (ValueError, OSError) as err:
        raise _fail(f"configuration: {err}") from err
    configure_tracking()
    try:
        result = _train_host(cfg, dataset)
    except ContractError as err:
        raise _fail(str(err)) from err
    console.print(
        _metrics_table(f"apprenticeship_host v{result.decision.version} (test set)", result.metrics)
    )
    console.print(f"Promotion: {result.decision.reason}")


def _train_host(cfg: HostPipelineConfig, dataset_path: Path | None) -> TrainResult:
    from pipelines.host import build_dataset, data_dir, load_records, train_and_register
    from pipelines.io import write_table

    reference = load_reference()
    home = _home()
    with _progress() as progress:
        if dataset_path is not None:
            task = progress.add_task(f"Reading {dataset_path}", total=None)
            dataset = pd.read_parquet(dataset_path)
        else:
            what = (
                f"Simulating {cfg.simulation.n_companies:,} companies"
                if cfg.data.source == "simulate"
                else "Reading chamber files"
            )
            task = progress.add_task(what, total=None)
            records = load_records(cfg, reference, data_dir(home) / "quarantine")
            progress.update(task, description="Building point-in-time dataset")
            dataset = build_dataset(records, cfg.cutoffs())
            write_table(dataset, data_dir(home) / "dataset.parquet")
        progress.update(task, description=f"Training on {len(dataset):,} company-years and registering")
        return train_and_register(dataset, cfg, reference)


@app.command()
def evaluate(
    dataset: Annotated[
        Path | None, typer.Option(help="Dataset built by build-dataset (default: last built)")
    ] = None,
    model_uri: Annotated[str, typer.Option(help="MLflow model URI")] = "models:/apprenticeship_host@champion",
    verbose: bool = False,
) -> None:
    """Evaluate a registered model on the last cut-off of a dataset (next to the oracle if simulated)."""
    _setup(verbose)
    from mlflow.exceptions import MlflowException

    from pipelines.host import data_dir, evaluate_model
    from pipelines.tracking import configure_tracking

    configure_tracking()
    path = dataset or data_dir(_home()) / "dataset.parquet"
    if not path.exists():
        raise _fail(f"{path}: dataset not found (run `cma-predict build-dataset` or `cma-predict train`)")
    try:
        metrics = evaluate_model(model_uri, pd.read_parquet(path))
    except MlflowException as err:
        raise _fail(f"{model_uri}: {err.message}") from err
    console.print(_metrics_table(f"{model_uri} on {path.name}", metrics))


@app.command()
def run(config: ConfigOpt = None, set_: SetOpt = None, verbose: bool = False) -> None:
    """The main job: train every model lacking a champion, then print the champions' evaluation."""
    _setup(verbose)
    from pipelines.host import data_dir, evaluate_model
    from pipelines.registry import current_champion
    from pipelines.tracking import configure_tracking

    uri = configure_tracking()
    console.print(f"MLflow tracking: {uri}")
    try:
        cfg = load_host_config(config, set_)
    except (ValueError, OSError) as err:
        raise _fail(f"configuration: {err}") from err
    champion = current_champion(cfg.registry.model_name, cfg.registry.champion_alias)
    dataset_path = data_dir(_home()) / "dataset.parquet"
    if champion is None or not dataset_path.exists():
        console.print(
            "No apprenticeship_host champion yet: training on the embedded default (SYNTHETIC data)."
        )
        result = _train_host(cfg, None)
        console.print(f"Registered apprenticeship_host v{result.decision.version}: {result.decision.reason}")
    champion = current_champion(cfg.registry.model_name, cfg.registry.champion_alias)
    assert champion is not None
    metrics = evaluate_model(
        f"models:/{cfg.registry.model_name}@{cfg.registry.champion_alias}", pd.read_parquet(dataset_path)
    )
    rows = int(metrics["n_rows"])
    title = f"apprenticeship_host champion v{champion.version}, last cut-off ({rows:,} companies)"
    console.print(_metrics_table(title, metrics))
    console.print(
        f"(AUC - 0.5) / (oracle AUC - 0.5) = {metrics['roc_auc_vs_oracle']:.3f}; "
        f"lift@10% / oracle = {metrics['lift_at_10pct_vs_oracle']:.3f}; ECE = {metrics['ece']:.4f}"
    )


def main() -> None:
    """Entry point for `python -m pipelines.cli`."""
    app(prog_name="cma-predict")


if __name__ == "__main__":
    main()
