"""What every command of `cma-predict` shares: the Typer app, consoles, progress bars, the metrics table,
the error exit, and the options of the pipeline configs."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="`cma-predict`: the command line of the CMA predictive service (simulate, build, train, evaluate, "
    "diagnose, run, serve).",
)
console = Console()
err_console = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Pipeline YAML (default: pipelines/configs/<model>.yaml)"),
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="Override a config key: --set simulation.seed=7")
]
ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="A model family of pipelines/configs/families.yaml")
]


def setup(verbose: bool = False) -> None:
    """Logging and MLflow's chatter, for a command."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("alembic", "mlflow", "matplotlib", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def progress() -> Progress:
    """A progress display for long work."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def home() -> Path:
    """The project folder (`CMA_PREDICT_HOME`, default ./var)."""
    from pipelines.tracking import project_home

    return project_home()


def dataset_path(model: str) -> Path:
    """Where `train` writes the dataset of a family."""
    return home() / "data" / model / "dataset.parquet"


def fail(message: str) -> typer.Exit:
    """Print the reason and exit with code 2."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    return typer.Exit(code=2)


def configured(model: str, path: Path | None, overrides: list[str] | None) -> Any:
    """The config of a family from its YAML and `--set` overrides; a bad one stops with its reason."""
    from pipelines.runner import load_family_config

    try:
        return load_family_config(model, path, overrides)
    except (ValueError, OSError) as err:
        raise fail(f"configuration: {err}") from err


def metrics_table(title: str, metrics: dict[str, float]) -> Table:
    """Each metric next to the oracle's and their ratio, when the data is simulated."""
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


def frame_table(title: str, frame: pd.DataFrame) -> Table:
    """A small frame (a table of the evaluation) as a console table; years (a `cohort` or `year` column)
    without thousands separators."""
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    plain = [str(c) in ("cohort", "year") for c in frame.columns]
    for row in frame.itertuples(index=False):
        table.add_row(
            *(
                str(v)
                if keep
                else f"{v:,.3f}"
                if isinstance(v, float)
                else f"{v:,}"
                if isinstance(v, int)
                else str(v)
                for v, keep in zip(row, plain, strict=True)
            )
        )
    return table
