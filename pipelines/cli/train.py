"""Training commands, the same for every model family (`pipelines/configs/families.yaml`): train (as the
champion's successor or, with `--challenger`, as a shadow-scored challenger), promote a challenger, evaluate
a registered model, retrain on a centre's own extract, and `run` (train what has no champion, print the
champions' evaluations)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.markup import escape

from models.contracts import ContractError
from models.extract import ExtractError
from models.gates import DegenerateTraining
from pipelines.cli.common import (
    ConfigOpt,
    ModelOpt,
    SetOpt,
    app,
    configured,
    console,
    dataset_path,
    err_console,
    fail,
    frame_table,
    home,
    metrics_table,
    progress,
    setup,
)
from pipelines.mlflow_logging import TrainResult
from pipelines.reference import load_reference

ChallengerOpt = Annotated[
    bool,
    typer.Option(
        "--challenger",
        help="Register the new version as the challenger (shadow-scored, not served): its publication gates "
        "are judged against the champion and tagged, the champion does not move (`cma-predict promote`)",
    ),
]


def _family(model: str) -> Any:
    from pipelines.runner import family

    try:
        return family(model)
    except ValueError as err:
        raise fail(str(err)) from err


def train_and_register(
    model: str, cfg: Any, dataset: Path | None = None, challenger: bool = False
) -> list[TrainResult]:
    """The family's pipeline step if it has one, its dataset (read from `dataset`, or built and written
    under the project folder), then the runner: train, evaluate, log, register, promote (with
    `challenger`: register as the challenger, champion unmoved)."""
    from pipelines.io import write_table
    from pipelines.runner import pipeline_data, preparation, train_family

    fam = _family(model)
    data = pipeline_data(dataset_path(model).parent / "quarantine")
    prepare = preparation(model)
    with progress() as bar:
        task = bar.add_task(f"Preparing {model}", total=None)
        if prepare is not None:
            cfg, summary = prepare(cfg, load_reference(), home())
            console.print(summary, highlight=False)
        if dataset is not None:
            bar.update(task, description=f"Reading {dataset}")
            rows = pd.read_parquet(dataset)
        else:
            bar.update(task, description="Simulating or reading the records")
            rows = fam.build_dataset(cfg, data)
            write_table(rows, dataset_path(model))
        bar.update(task, description=f"Training {model} on {len(rows):,} rows and registering")
        results: list[TrainResult] = train_family(fam, cfg, rows, data, challenger)
    for report in data.reports:
        console.print(report.summary(max_lines=5), highlight=False)
    if "n_rows" in rows.attrs:  # an extract: what was read and what was left out
        console.print(
            f"{rows.attrs.get('source')}: {rows.attrs['n_rows']:,} rows, {len(rows):,} with a known outcome "
            f"({rows.attrs.get('n_unknown_outcome', 0):,} left out)"
        )
        for note in rows.attrs.get("notes", []):
            console.print(f"  note: {note}")
    return results


def print_result(result: TrainResult) -> None:
    """The metrics of a trained version, its tables, and the promotion decision."""
    console.print(f"Evaluation: {result.evaluation_method}")
    console.print(metrics_table(f"{result.name} v{result.decision.version} (test set)", result.metrics))
    if "groups_flagged" in result.metrics:
        flagged = int(result.metrics["groups_flagged"])
        console.print(f"Groups with a flagged gap: {flagged} (table in the model card)")
    for name, table in (result.tables or {}).items():
        if name != "groups":  # the group table is long: it is in the model card
            console.print(frame_table(f"{result.name}: {name.replace('_', ' ')}", table))
    console.print(f"Promotion: {result.decision.reason}")


def _train(model: str, cfg: Any, dataset: Path | None, challenger: bool = False) -> list[TrainResult]:
    from pipelines.tracking import configure_tracking

    configure_tracking()
    try:
        return train_and_register(model, cfg, dataset, challenger)
    except (ContractError, ExtractError, DegenerateTraining) as err:
        raise fail(str(err)) from err


@app.command()
def train(
    model: ModelOpt = "apprenticeship_host",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dataset: Annotated[Path | None, typer.Option(help="Prebuilt dataset (skips simulation/reading)")] = None,
    challenger: ChallengerOpt = False,
    verbose: bool = False,
) -> None:
    """Train a model family, evaluate against the oracle, log to MLflow, register and promote if better
    (with --challenger: register as the shadow-scored challenger; `cma-predict promote` judges it later)."""
    setup(verbose)
    cfg = configured(model, config, set_)
    for result in _train(model, cfg, dataset, challenger):
        print_result(result)


@app.command("train-extract")
def train_extract_cmd(
    data: Annotated[
        list[Path],
        typer.Option(
            help="The centre's extract (CSV with , ; tab or |, .xlsx or Parquet), or its national exports "
            "(SIFA, ERP v3, DECA: repeat --data), imported first"
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="YAML mapping the extract's columns to roles (national exports: written)"
        ),
    ] = None,
    set_: SetOpt = None,
    challenger: ChallengerOpt = False,
    verbose: bool = False,
) -> None:
    """Retrain the dropout-risk model on a centre's own extract, from the file and its config alone
    (`train --model dropout_risk_extract` with the file). National exports are imported first
    (`cma-predict import`, into the project folder), and their training set and config are used."""
    setup(verbose)
    from pipelines.importer import national_format

    if any(national_format(path) is not None for path in data):
        data, written = _imported(data)
        config = config or written
    if len(data) != 1 or config is None:
        raise fail("--data: one extract file with its --config, or national exports (SIFA, ERP, DECA)")
    cfg = configured("dropout_risk_extract", config, [*(set_ or []), f"data={data[0]}"])
    for result in _train("dropout_risk_extract", cfg, None, challenger):
        print_result(result)


def _imported(files: list[Path]) -> tuple[list[Path], Path]:
    """National exports imported into `<home>/data/import`: the training set and its config."""
    from catalog.formats import FormatError, Pseudonymiser
    from pipelines.importer import TrainingSetOptions, import_files, write_import

    out = home() / "data" / "import"
    try:
        result = import_files(files, "auto", load_reference(), Pseudonymiser.from_env())
        write_import(result, out, TrainingSetOptions())
    except (FormatError, ContractError) as err:
        raise fail(str(err)) from err
    console.print(result.summary(), highlight=False, markup=False)
    if result.table("apprentice_contracts") is None:
        raise fail("the files hold no apprenticeship contract (SIFA, ERP or DECA) to train on")
    return [out / "dropout_training_set.csv"], out / "dropout_training_set.yaml"


@app.command()
def evaluate(
    model: ModelOpt = "apprenticeship_host",
    dataset: Annotated[
        Path | None, typer.Option(help="Dataset built by build-dataset or train (default: last built)")
    ] = None,
    model_uri: Annotated[str | None, typer.Option(help="MLflow model URI (default: the champion)")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    verbose: bool = False,
) -> None:
    """Evaluate a registered model on the test split of a dataset (next to the oracle if simulated)."""
    setup(verbose)
    from mlflow.exceptions import MlflowException

    from pipelines.runner import evaluate_registered, pipeline_data

    fam, cfg, path = _family_dataset(model, config, set_, dataset)
    try:
        evaluated = evaluate_registered(
            fam, cfg, pd.read_parquet(path), pipeline_data(path.parent), model_uri
        )
    except MlflowException as err:
        raise fail(f"{model_uri or model}: {err.message}") from err
    for name, metrics in evaluated.items():
        console.print(metrics_table(f"{model_uri or name + '@champion'} on {path.name}", metrics))


def _family_dataset(
    model: str, config: Path | None, set_: list[str] | None, dataset: Path | None
) -> tuple[Any, Any, Path]:
    """The family, its config and the dataset file a command judges registered versions on (the tracking
    store configured)."""
    from pipelines.tracking import configure_tracking

    fam = _family(model)
    cfg = configured(model, config, set_)
    configure_tracking()
    path = dataset or dataset_path(model)
    if not path.exists():
        raise fail(f"{path}: dataset not found (run `cma-predict build-dataset` or `cma-predict train`)")
    return fam, cfg, path


@app.command()
def promote(
    model: ModelOpt = "apprenticeship_host",
    registered: Annotated[
        str | None,
        typer.Option(
            help="The registered name to promote (default: every name of the family with a challenger)"
        ),
    ] = None,
    dataset: Annotated[
        Path | None, typer.Option(help="Dataset built by build-dataset or train (default: last built)")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    verbose: bool = False,
) -> None:
    """Make the challenger champion if it passes the publication gates and beats the champion's metric,
    both judged now on the test split of the dataset; a refusal prints each failed gate and exits with 1."""
    setup(verbose)
    from mlflow.exceptions import MlflowException

    from pipelines.runner import pipeline_data, promote_registered

    fam, cfg, path = _family_dataset(model, config, set_, dataset)
    try:
        decisions = promote_registered(
            fam, cfg, pd.read_parquet(path), pipeline_data(path.parent), registered
        )
    except ValueError as err:
        raise fail(str(err)) from err
    except MlflowException as err:
        raise fail(f"{registered or model}: {err.message}") from err
    refused = False
    for name, decision in decisions.items():
        if decision.promoted:
            console.print(f"{name} v{decision.version} is now champion: {decision.reason}", highlight=False)
            continue
        refused = True
        err_console.print(
            f"[bold red]refused:[/] {escape(name)} v{decision.version} stays challenger: "
            f"{escape(decision.reason)}",
            soft_wrap=True,
            highlight=False,
        )
        for gate in decision.failed_gate_texts:
            err_console.print(f"  failed gate {escape(gate)}", soft_wrap=True, highlight=False)
    if refused:
        raise typer.Exit(code=1)


def _summary(metrics: dict[str, float]) -> str:
    """The ratios to the oracle of a champion, in one line."""
    ratios = [
        f"{k.removesuffix('_vs_oracle')} / oracle = {v:.3f}"
        for k, v in metrics.items()
        if k.endswith("_vs_oracle")
    ]
    return "; ".join([*ratios, f"ECE = {metrics['ece']:.4f}"]) if "ece" in metrics else "; ".join(ratios)


@app.command()
def run(
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override a model's config: --set dropout_risk:prediction_weeks=8"),
    ] = None,
    verbose: bool = False,
) -> None:
    """The main job: train every model lacking a champion, then print each champion's evaluation and a
    sample flash diagnostic."""
    setup(verbose)
    from pipelines.registry import current_champion
    from pipelines.runner import evaluate_registered, pipeline_data, run_families
    from pipelines.tracking import configure_tracking

    uri = configure_tracking()
    console.print(f"MLflow tracking: {uri}")
    names = run_families()
    overrides: dict[str, list[str]] = {name: [] for name in names}
    for item in set_ or []:
        name, sep, rest = item.partition(":")
        if not sep or name not in overrides:
            raise fail(f"--set '{item}': expected MODEL:key=value with MODEL in {', '.join(overrides)}")
        overrides[name].append(rest)
    for name in names:
        fam = _family(name)
        cfg = configured(name, None, overrides[name])
        missing = [r for r in fam.registrations(cfg) if current_champion(r.model_name, r.alias) is None]
        if missing or not dataset_path(name).exists():
            console.print(f"No {name} champion yet: training on the embedded default (SYNTHETIC data).")
            for result in _train(name, cfg, None):
                print_result(result)
        rows = pd.read_parquet(dataset_path(name))
        for registration in fam.registrations(cfg):
            if current_champion(registration.model_name, registration.alias) is None:
                console.print(
                    f"No {registration.model_name} champion: its versions failed a publication gate or were "
                    "refused (see the run's cma.refused and the versions' cma.gates tags); nothing served."
                )
        evaluated = evaluate_registered(fam, cfg, rows, pipeline_data(home()), missing_ok=True)
        for registered, metrics in evaluated.items():
            champion = current_champion(registered)  # the default alias: what the service serves
            version = champion.version if champion else "?"
            title = f"{registered} champion v{version}, test set ({int(metrics['n_rows']):,} rows)"
            console.print(metrics_table(title, metrics))
            console.print(_summary(metrics))
    from pipelines.cli.site import print_sample_diagnostic

    print_sample_diagnostic()
