"""`cma-predict`: the command line of the CMA predictive service (simulate, build, train, evaluate, run)."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

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

from models.contracts import ContractError
from pipelines.config import load_host_config
from pipelines.reference import REFERENCE_DIR, load_reference

if TYPE_CHECKING:
    from pipelines.mlflow_logging import TrainResult

C = TypeVar("C")
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()
err_console = Console(stderr=True)

MODELS: tuple[str, ...] = ("apprenticeship_host", "dropout_risk")

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
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    return typer.Exit(code=2)


@app.command()
def simulate(
    model: Annotated[str, typer.Option("--model", "-m", help="apprenticeship_host or dropout_risk")] = (
        "apprenticeship_host"
    ),
    companies: Annotated[int, typer.Option(help="apprenticeship_host: number of companies")] = 50_000,
    years: Annotated[int, typer.Option(help="apprenticeship_host: observed cut-off years")] = 5,
    first_year: Annotated[int, typer.Option(help="apprenticeship_host: first observed year")] = 2020,
    contracts: Annotated[int, typer.Option(help="dropout_risk: number of contracts")] = 100_000,
    prediction_weeks: Annotated[int, typer.Option(help="dropout_risk: weeks to the prediction date")] = 6,
    seed: Annotated[int, typer.Option(help="Random seed")] = 42,
    out: Annotated[Path | None, typer.Option(help="Output folder (default var/data/<model>)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    verbose: bool = False,
) -> None:
    """Simulate a chamber's or a training centre's records (SYNTHETIC, with the oracle)."""
    _setup(verbose)
    if fmt not in ("parquet", "csv"):
        raise _fail("--format must be parquet or csv")
    if model not in MODELS:
        raise _fail(f"--model must be one of {', '.join(MODELS)}")
    target = out or _dataset_path(model).parent
    start = time.perf_counter()
    if model == "dropout_risk":
        from models.simulation.training_centre import TrainingCentreParams, simulate_training_centre
        from pipelines.dropout import write_centre

        centre_params = TrainingCentreParams(
            n_contracts=contracts, prediction_weeks=prediction_weeks, seed=seed
        )
        with _progress() as progress:
            task = progress.add_task(f"Simulating {contracts:,} contracts", total=2)
            centre = simulate_training_centre(
                load_reference(), centre_params, lambda _: progress.advance(task)
            )
            paths = write_centre(centre, target, fmt)
        console.print(
            f"SYNTHETIC training centre: {len(centre.contracts):,} contracts, {len(centre.follow_up):,} "
            f"follow-up weeks, {len(centre.companies):,} employers in {time.perf_counter() - start:.1f} s"
        )
    else:
        from models.simulation.chamber import ChamberSimulationParams, simulate_chamber
        from pipelines.host import write_chamber

        params = ChamberSimulationParams(
            n_companies=companies, n_years=years, first_year=first_year, seed=seed
        )
        with _progress() as progress:
            total = params.history_years + params.n_years
            task = progress.add_task(f"Simulating {companies:,} companies x {total} years", total=total)
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
    model: Annotated[
        str, typer.Option("--model", "-m", help="apprenticeship_host, dropout_risk or site_potential")
    ] = "apprenticeship_host",
    size: Annotated[
        int, typer.Option(help="Companies (host), contracts (dropout) or creations over 20 years (site)")
    ] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 42,
    verbose: bool = False,
) -> None:
    """Print, as Markdown, each published figure a simulator is calibrated on next to its simulated rate."""
    _setup(verbose)
    reference = load_reference()
    with _progress() as progress:
        progress.add_task(f"Simulating {size:,} records", total=None)
        if model == "site_potential":
            from models.simulation.sirene import (
                SireneSimulationParams,
                simulate_sirene,
                survival_calibration_report,
            )

            sim = simulate_sirene(reference, SireneSimulationParams(creations_per_year=size // 20, seed=seed))
            report = survival_calibration_report(sim, reference)
        elif model == "dropout_risk":
            from models.simulation.training_centre import (
                TrainingCentreParams,
                rupture_calibration_report,
                simulate_training_centre,
            )

            centre = simulate_training_centre(reference, TrainingCentreParams(n_contracts=size, seed=seed))
            report = rupture_calibration_report(centre, national=True)
        else:
            from models.simulation.chamber import (
                ChamberSimulationParams,
                calibration_report,
                simulate_chamber,
            )

            params = ChamberSimulationParams(n_companies=size, seed=seed)
            report = calibration_report(simulate_chamber(reference, params), reference, params)
    has_flag = "calibrated" in report
    head = "| figure | published | simulated | gap (points) |" + (" calibrated |" if has_flag else "")
    lines = [head + " source |", "|---|---|---|---|" + ("---|" if has_flag else "") + "---|"]
    for row in report.to_dict("records"):
        flag = (" yes |" if row["calibrated"] else " no (comparison) |") if has_flag else ""
        lines.append(
            f"| {row['figure']} | {row['published']:.1%} | {row['simulated']:.1%} "
            f"| {row['gap_points']:+.1f} |"
            f"{flag} {row['source']} |"
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


ModelOpt = Annotated[str, typer.Option("--model", "-m", help="apprenticeship_host or dropout_risk")]


def _load_config(model: str, path: Path | None, overrides: list[str] | None) -> Any:
    from pipelines.config import load_dropout_config

    if model not in MODELS:
        raise _fail(f"--model must be one of {', '.join(MODELS)}")
    loader = load_host_config if model == "apprenticeship_host" else load_dropout_config
    return _configured(loader, path, overrides)


def _configured(loader: Callable[..., C], path: Path | None, overrides: list[str] | None) -> C:
    """A pipeline config from YAML and `--set` overrides; a bad one stops the command with its reason."""
    try:
        return loader(path, overrides)
    except (ValueError, OSError) as err:
        raise _fail(f"configuration: {err}") from err


def _dataset_path(model: str) -> Path:
    return _home() / "data" / model / "dataset.parquet"


@app.command()
def train(
    model: ModelOpt = "apprenticeship_host",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dataset: Annotated[Path | None, typer.Option(help="Prebuilt dataset (skips simulation/reading)")] = None,
    verbose: bool = False,
) -> None:
    """Train, evaluate against the oracle, log to MLflow, register and promote if better."""
    _setup(verbose)
    from pipelines.tracking import configure_tracking

    cfg = _load_config(model, config, set_)
    configure_tracking()
    try:
        result = _train(model, cfg, dataset)
    except ContractError as err:
        raise _fail(str(err)) from err
    console.print(_metrics_table(f"{model} v{result.decision.version} (test set)", result.metrics))
    console.print(f"Promotion: {result.decision.reason}")


def _train(model: str, cfg: Any, dataset_path: Path | None) -> TrainResult:
    """Get the records (simulated or read), build the dataset, write it, train and register."""
    from pipelines import dropout, host
    from pipelines.io import write_table

    reference = load_reference()
    with _progress() as progress:
        if dataset_path is not None:
            task = progress.add_task(f"Reading {dataset_path}", total=None)
            dataset = pd.read_parquet(dataset_path)
        else:
            simulated = cfg.data.source == "simulate"
            task = progress.add_task("Simulating records" if simulated else "Reading files", total=None)
            quarantine = _dataset_path(model).parent / "quarantine"
            if model == "apprenticeship_host":
                dataset = host.build_dataset(host.load_records(cfg, reference, quarantine), cfg.cutoffs())
            else:
                records = dropout.load_centre_records(cfg, reference, quarantine)
                dataset = dropout.build_dataset(records, cfg)
            write_table(dataset, _dataset_path(model))
        progress.update(task, description=f"Training {model} on {len(dataset):,} rows and registering")
        if model == "apprenticeship_host":
            return host.train_and_register(dataset, cfg, reference)
        return dropout.train_and_register_dropout(dataset, cfg, reference)


def _evaluate(model: str, model_uri: str, dataset: pd.DataFrame, label: str = "rupture") -> dict[str, float]:
    from pipelines import dropout, host

    if model == "apprenticeship_host":
        return host.evaluate_model(model_uri, dataset)
    return dropout.evaluate_dropout_model(model_uri, dataset, label)


@app.command("train-extract")
def train_extract_cmd(
    data: Annotated[Path, typer.Option(help="The centre's extract (CSV with , or ; or Parquet)")],
    config: Annotated[
        Path, typer.Option("--config", "-c", help="YAML mapping the extract's columns to roles")
    ],
    set_: SetOpt = None,
    verbose: bool = False,
) -> None:
    """Retrain the dropout-risk model on a centre's own extract, from the file and its config alone."""
    _setup(verbose)
    from models.extract import ExtractError
    from pipelines.config import load_extract_config
    from pipelines.extract import train_extract
    from pipelines.tracking import configure_tracking

    cfg = _configured(load_extract_config, config, set_)
    configure_tracking()
    try:
        with _progress() as progress:
            progress.add_task(f"Training on {data.name}", total=None)
            result, prepared, method = train_extract(data, cfg)
    except (ExtractError, ContractError) as err:
        raise _fail(str(err)) from err
    console.print(
        f"{data.name}: {prepared.n_rows:,} rows, {len(prepared.frame):,} with a known outcome "
        f"({prepared.n_unknown_outcome:,} left out)"
    )
    for note in prepared.notes:
        console.print(f"  note: {note}")
    console.print(f"Evaluation: {method}")
    title = f"{cfg.registry.model_name} v{result.decision.version}"
    console.print(_metrics_table(title, result.metrics))
    flagged = int(result.metrics.get("groups_flagged", 0))
    console.print(f"Groups with a flagged gap: {flagged} (table in the model card)")
    console.print(f"Promotion: {result.decision.reason}")


@app.command("ingest-sirene")
def ingest_sirene_cmd(
    stock: Annotated[
        Path | None, typer.Option(help="StockEtablissement file (CSV, CSV.gz or Parquet)")
    ] = None,
    history: Annotated[Path | None, typer.Option(help="StockEtablissementHistorique file")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default var/data/site_potential)")] = None,
    memory_limit: Annotated[str, typer.Option(help="DuckDB memory limit")] = "1GB",
    verbose: bool = False,
) -> None:
    """Ingest SIRENE establishment files (official columns) into Parquet, quarantining malformed lines."""
    _setup(verbose)
    from pipelines.ingest import ingest_sirene
    from pipelines.site import load_passage, site_dir

    if stock is None and history is None:
        raise _fail("give --stock, --history or both")
    target = out or site_dir(_home())
    try:
        with _progress() as progress:
            progress.add_task("Ingesting SIRENE", total=None)
            report = ingest_sirene(
                target, load_passage(), stock=stock, history=history, memory_limit=memory_limit
            )
    except ContractError as err:
        raise _fail(str(err)) from err
    console.print(report.summary(), highlight=False)


@app.command("train-site")
def train_site(config: ConfigOpt = None, set_: SetOpt = None, verbose: bool = False) -> None:
    """Ingest (or simulate) SIRENE, build the diagnostic's store, train and register the survival models."""
    _setup(verbose)
    from pipelines.config import load_site_config
    from pipelines.tracking import configure_tracking

    cfg = _configured(load_site_config, config, set_)
    configure_tracking()
    try:
        training, report = _train_site(cfg)
    except ContractError as err:
        raise _fail(str(err)) from err
    console.print(report.summary(), highlight=False)
    _print_site(training)


def _train_site(cfg: Any) -> tuple[Any, Any]:
    from pipelines import site

    reference = load_reference()
    out = site.site_dir(_home())
    with _progress() as progress:
        task = progress.add_task(
            "Simulating SIRENE files" if cfg.data.source == "simulate" else "Ingesting SIRENE files",
            total=None,
        )
        report, oracle = site.prepare_sirene(cfg, reference, out)
        progress.update(task, description="Building the territorial store")
        site.build_store(out, reference, cfg.extract_date(), synthetic=cfg.data.source == "simulate")
        territory = site.load_territory(reference)
        progress.update(task, description="Training the survival models")
        establishments = pd.read_parquet(out / "establishments.parquet")
        training = site.train_site_models(establishments, oracle, territory, reference, cfg)
    return training, report


def _print_site(training: Any) -> None:
    for horizon, result in training.results.items():
        console.print(
            _metrics_table(
                f"site_survival_{horizon}y v{result.decision.version} (test cohort)", result.metrics
            )
        )
        table = Table(title=f"Survival at {horizon} years by NAF section: predicted vs observed")
        for col in ("section", "sector", "n", "predicted", "observed", "gap (points)"):
            table.add_column(col)
        for row in training.by_section[horizon].itertuples(index=False):
            table.add_row(
                row.section,
                row.sector,
                f"{row.n:,}",
                f"{row.predicted:.3f}",
                f"{row.observed:.3f}",
                f"{row.gap_points:+.1f}",
            )
        console.print(table)
        console.print(f"Promotion: {result.decision.reason}")


@app.command()
def diagnose(
    naf: Annotated[str, typer.Option(help="Activity: NAF rev.2 sub-class, e.g. 96.02A")],
    commune: Annotated[str, typer.Option(help="INSEE commune code, e.g. 69384")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the diagnostic as JSON")] = False,
    pdf: Annotated[Path | None, typer.Option(help="Also write the report as an A4 PDF to this file")] = None,
    suffix: Annotated[
        str, typer.Option(help="Suffix of the registered survival models, e.g. _lyon4e (config model_suffix)")
    ] = "",
    verbose: bool = False,
) -> None:
    """The flash diagnostic of opening an activity in a commune (indicators, survival odds, risk); with
    `--pdf`, the advisors' report (map, text, indicators) as a PDF."""
    _setup(verbose)
    import json

    from catalog.contours import load_commune_contours
    from catalog.site import StoreNotFoundError, load_store, site_dir
    from models.site_potential.diagnose import UnknownCodeError
    from models.site_potential.flash import compose
    from pipelines import site
    from pipelines.tracking import configure_tracking

    configure_tracking()
    reference = load_reference()
    try:
        store = load_store(site_dir(_home()))
    except StoreNotFoundError as err:
        raise _fail(str(err)) from err
    try:
        models = site.load_survival_champions(suffix)
    except Exception as err:
        raise _fail(
            f"survival models not found in the registry ({err}); run `cma-predict train-site`"
        ) from err
    contours = load_commune_contours(REFERENCE_DIR, _home() / "cache") if pdf is not None else None
    try:
        report = compose(naf, commune, store, reference, models, contours)
    except UnknownCodeError as err:
        raise _fail(str(err)) from err
    if pdf is not None:
        pdf.parent.mkdir(parents=True, exist_ok=True)
        pdf.write_bytes(report.pdf())
    if as_json:
        console.print_json(json.dumps(report.diagnostic.to_dict(), ensure_ascii=False))
    else:
        _print_diagnostic(report.diagnostic)
    if pdf is not None:
        console.print(f"PDF : {pdf}")


def _print_diagnostic(result: Any) -> None:
    console.print(
        f"[bold]Diagnostic flash[/] — {result.naf_label} ({result.naf_code}) à {result.commune_name} "
        f"({result.commune_code}, département {result.departement_code}), données au {result.reference_date}"
    )
    console.print(f"[bold]Niveau de risque : {result.risk_level}[/] — {result.risk_summary}")
    for odds in result.survival:
        dep = f"{odds.departement_observed:.0%}" if odds.departement_observed is not None else "n.d."
        nat = f"{odds.national_observed:.0%}" if odds.national_observed is not None else "n.d."
        console.print(
            f"Chances de survie à {odds.horizon_years} ans : {odds.probability:.0%} "
            f"(observé pour l'activité : département {dep}, France {nat})"
        )
    table = Table(title="Indicateurs")
    for col in ("indicateur", "valeur", "département", "France", "unité"):
        table.add_column(col)
    fmt = lambda v: "n.d." if v is None else f"{v:,.1f}".replace(",", " ")  # noqa: E731
    for ind in result.indicators:
        table.add_row(
            ind.label, fmt(ind.value), fmt(ind.departement_value), fmt(ind.national_value), ind.unit
        )
    console.print(table)
    console.print("[bold]Principales raisons[/]")
    for reason in result.reasons:
        console.print(f"  - {reason}")
    for warning in result.warnings:
        console.print(f"[yellow]Attention :[/] {warning}")


@app.command()
def evaluate(
    model: ModelOpt = "apprenticeship_host",
    dataset: Annotated[
        Path | None, typer.Option(help="Dataset built by build-dataset or train (default: last built)")
    ] = None,
    model_uri: Annotated[str | None, typer.Option(help="MLflow model URI (default: the champion)")] = None,
    label: Annotated[str, typer.Option(help="dropout_risk label: rupture or rupture_9m")] = "rupture",
    verbose: bool = False,
) -> None:
    """Evaluate a registered model on the last cut-off or cohort of a dataset (next to the oracle if
    simulated)."""
    _setup(verbose)
    from mlflow.exceptions import MlflowException

    from pipelines.tracking import configure_tracking

    if model not in MODELS:
        raise _fail(f"--model must be one of {', '.join(MODELS)}")
    configure_tracking()
    uri = model_uri or f"models:/{model}@champion"
    path = dataset or _dataset_path(model)
    if not path.exists():
        raise _fail(f"{path}: dataset not found (run `cma-predict build-dataset` or `cma-predict train`)")
    try:
        metrics = _evaluate(model, uri, pd.read_parquet(path), label)
    except MlflowException as err:
        raise _fail(f"{uri}: {err.message}") from err
    console.print(_metrics_table(f"{uri} on {path.name}", metrics))


@app.command()
def run(
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override a model's config: --set dropout_risk:prediction_weeks=8"),
    ] = None,
    verbose: bool = False,
) -> None:
    """The main job: train every model lacking a champion, then print each champion's evaluation."""
    _setup(verbose)
    from pipelines.registry import current_champion
    from pipelines.tracking import configure_tracking

    uri = configure_tracking()
    console.print(f"MLflow tracking: {uri}")
    overrides: dict[str, list[str]] = {m: [] for m in (*MODELS, "site_potential")}
    for item in set_ or []:
        name, sep, rest = item.partition(":")
        if not sep or name not in overrides:
            raise _fail(f"--set '{item}': expected MODEL:key=value with MODEL in {', '.join(overrides)}")
        overrides[name].append(rest)
    site_overrides = overrides["site_potential"]
    for model in MODELS:
        cfg = _load_config(model, None, overrides[model])
        alias = cfg.registry.champion_alias
        if current_champion(cfg.registry.model_name, alias) is None or not _dataset_path(model).exists():
            console.print(f"No {model} champion yet: training on the embedded default (SYNTHETIC data).")
            result = _train(model, cfg, None)
            console.print(f"Registered {model} v{result.decision.version}: {result.decision.reason}")
        champion = current_champion(cfg.registry.model_name, alias)
        assert champion is not None
        metrics = _evaluate(
            model, f"models:/{cfg.registry.model_name}@{alias}", pd.read_parquet(_dataset_path(model))
        )
        rows = int(metrics["n_rows"])
        console.print(
            _metrics_table(f"{model} champion v{champion.version}, test set ({rows:,} rows)", metrics)
        )
        summary = f"(AUC - 0.5) / (oracle AUC - 0.5) = {metrics.get('roc_auc_vs_oracle', float('nan')):.3f}"
        if model == "apprenticeship_host":
            summary += f"; lift@10% / oracle = {metrics.get('lift_at_10pct_vs_oracle', float('nan')):.3f}"
        else:
            summary += (
                f"; recall@15% / oracle = {metrics.get('recall_at_capacity_vs_oracle', float('nan')):.3f}"
            )
        console.print(summary + f"; ECE = {metrics['ece']:.4f}")
    _run_site(site_overrides)


def _run_site(overrides: list[str]) -> None:
    """Train the site-potential models when they have no champion; print a sample diagnostic."""
    from models.site_potential import SURVIVAL_MODELS
    from models.site_potential.diagnose import diagnose as run_diagnostic
    from pipelines import site
    from pipelines.config import load_site_config
    from pipelines.registry import current_champion

    cfg = _configured(load_site_config, None, overrides)
    ready = (site.site_dir(_home()) / "store.json").exists()
    if not ready or any(current_champion(name) is None for name in SURVIVAL_MODELS.values()):
        console.print("No site-potential champions yet: training on the embedded default (SYNTHETIC SIRENE).")
        training, report = _train_site(cfg)
        console.print(report.summary(), highlight=False)
        _print_site(training)
    from catalog.contours import load_commune_contours
    from catalog.site import load_store

    reference = load_reference()
    store = load_store(site.site_dir(_home()))
    _print_diagnostic(run_diagnostic("96.02A", "69384", store, reference, site.load_survival_models()))
    load_commune_contours(REFERENCE_DIR, _home() / "cache")  # the map's contours, parsed once for the service


keys_app = typer.Typer(help="API keys of the scoring service (stored hashed; a key is shown once).")
app.add_typer(keys_app, name="keys")


def _key_store() -> Any:
    from service.keys import KeyStore
    from service.settings import ServiceSettings

    return KeyStore(ServiceSettings(predict_home=_home()).keys_path())


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="agent (scores), advisor (diagnostics) or admin")],
    chamber: Annotated[str, typer.Option(help='Chamber the key belongs to, e.g. "CMA PACA"')],
) -> None:
    """Create a key and print it once."""
    try:
        key, record = _key_store().create(role, chamber)
    except ValueError as err:
        raise _fail(str(err)) from err
    console.print(
        f"key id {record.key_id} ({record.role}, {record.chamber}); keep this key, it is shown once:"
    )
    console.print(key, highlight=False, markup=False, soft_wrap=True)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids, roles, chambers, dates; never the keys)."""
    table = Table(title="API keys")
    for col in ("id", "role", "chamber", "created", "revoked"):
        table.add_column(col)
    for record in _key_store().list():
        table.add_row(record.key_id, record.role, record.chamber, record.created_at, record.revoked_at or "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="Key id shown by `keys list`")]) -> None:
    """Revoke a key: it stops working at once."""
    if not _key_store().revoke(key_id):
        raise _fail(f"no active key with id {key_id}")
    console.print(f"key {key_id} revoked")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    admin_key: Annotated[
        bool, typer.Option("--admin-key", help="Create and print a local admin key")
    ] = False,
) -> None:
    """Start the scoring API (champions loaded from the registry)."""
    import os

    import uvicorn

    from pipelines.tracking import configure_tracking

    os.environ.setdefault("CMA_PREDICT_HOME", str(_home()))
    configure_tracking()
    os.environ.setdefault("CMA_TRACKING_URI", os.environ.get("MLFLOW_TRACKING_URI", ""))
    if admin_key:
        key, record = _key_store().create("admin", "local")
        console.print(
            f"Local admin key (id {record.key_id}), shown once: {key}", highlight=False, markup=False
        )
    console.print(f"API on http://{host}:{port} — documentation: http://{host}:{port}/docs")
    console.print(
        f"Diagnostic page for advisors: http://{host}:{port}/diagnostic (sign in with an advisor key)",
        highlight=False,
    )
    uvicorn.run(
        "service.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning"
    )


def main() -> None:
    """Entry point for `python -m pipelines.cli`."""
    app(prog_name="cma-predict")


if __name__ == "__main__":
    main()
