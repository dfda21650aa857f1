"""`cma-predict monitor` (the monitoring report of a served model, logged to MLflow) and `cma-predict
outcomes` (what happened after the scores, from a file or from the next extract of events)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.cli.common import app, console, fail, home, setup

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Monitoring store: a SQLite file or a database URL (default: the service's)"),
]


def open_store(db: str | None) -> Any:
    """The monitoring store of `--db` (a URL when it holds `://`, else a file), else the service's."""
    from service.monitoring import MonitoringStore
    from service.settings import ServiceSettings

    if db is None:
        target: Any = ServiceSettings().monitoring_target()
    else:
        target = db if "://" in db else Path(db)
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
    return MonitoringStore(target)


def period_bounds(period: str | None, since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """`--period 2026-01..2026-12` (either side may be empty) or `--since` / `--until`, months YYYY-MM."""
    import re

    if period is not None:
        if since is not None or until is not None:
            raise fail("--period and --since/--until are exclusive")
        since, _, until = period.partition("..")
        since, until = since or None, until or None
    for name, value in (("since", since), ("until", until)):
        if value is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
            raise fail(f"--{name} {value!r}: a month YYYY-MM is expected")
    return since, until


def _python_model(model: str, version: str) -> Any:
    import mlflow

    return mlflow.pyfunc.load_model(f"models:/{model}/{version}").unwrap_python_model()


@app.command()
def monitor(
    model: Annotated[str, typer.Option("--model", "-m", help="A served model (e.g. dropout_risk)")],
    period: Annotated[str | None, typer.Option(help="Months FROM..TO, e.g. 2026-01..2026-12")] = None,
    since: Annotated[str | None, typer.Option(help="First month (YYYY-MM)")] = None,
    until: Annotated[str | None, typer.Option(help="Last month (YYYY-MM)")] = None,
    out: Annotated[
        Path | None, typer.Option(help="HTML report (default: <home>/reports/monitoring_<model>.html)")
    ] = None,
    chamber: Annotated[
        str | None, typer.Option(help="Only the scores of this chamber's keys (its own report)")
    ] = None,
    db: DbOpt = None,
    verbose: bool = False,
) -> None:
    """The monitoring report of a model: realized vs expected AUC per month, capture, drift, groups,
    challenger; written as HTML and logged as a run of the `cma-monitoring` MLflow experiment."""
    setup(verbose)
    from rich.table import Table

    from models.monitoring import DriftThresholds, ReferenceProfile
    from pipelines.monitor import log_monitoring_run, monitoring_figures, render_report
    from pipelines.tracking import configure_tracking
    from service.settings import ServiceSettings

    first, last = period_bounds(period, since, until)
    store = open_store(db)
    try:
        rows = store.predictions(model, first, last, chamber=chamber)
        unmatched = store.unmatched_outcomes(model)
    finally:
        store.close()
    champion = rows[rows["role"] == "champion"] if len(rows) else rows
    if champion.empty:
        raise fail(f"{model}: no champion prediction kept in the monitoring store for this period")
    configure_tracking()
    version = str(champion.sort_values("scored_at", kind="stable")["version"].iloc[-1])
    profile = None
    try:
        given = getattr(_python_model(model, version), "reference_profile", None)
        profile = ReferenceProfile.from_dict(given) if isinstance(given, dict) else None
    except Exception as err:  # a deleted version, a registry not reachable: the report says no drift
        console.print(
            f"models:/{model}/{version}: {type(err).__name__}: no reference profile", highlight=False
        )
    settings = ServiceSettings()
    thresholds = DriftThresholds(psi=settings.drift_psi, min_rows=settings.drift_min_rows)
    label = f"{first or ''}..{last or ''}"
    figures = monitoring_figures(
        rows,
        profile,
        thresholds,
        since=first or "",
        until=last or "",
        unmatched_outcomes=unmatched,
        window=settings.drift_window,
    )
    html = render_report(figures, model, label)
    target = out or home() / "reports" / f"monitoring_{model}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    run_id = log_monitoring_run(figures, html, model, label)
    overall = figures.overall.iloc[0]
    table = Table(title=f"{model}: monitoring {label}")
    for column in ("period", "rows", "with outcome", "realized AUC", "± SE", "expected AUC"):
        table.add_column(column, justify="right")
    for row in figures.by_period.itertuples(index=False):
        table.add_row(
            str(row.period), f"{row.rows:,}", f"{row.with_outcome:,}", f"{row.roc_auc:.3f}",
            f"{row.auc_se:.3f}", f"{row.expected_auc:.3f}",
        )  # fmt: skip
    table.add_row(
        "all", f"{figures.rows:,}", f"{int(overall['with_outcome']):,}", f"{overall['roc_auc']:.3f}",
        f"{overall['auc_se']:.3f}", f"{overall['expected_auc']:.3f}",
    )  # fmt: skip
    console.print(table)
    for alert in figures.alerts:
        console.print(f"[bold red]alert:[/] {alert}", highlight=False)
    for note in figures.notes:
        console.print(note, highlight=False)
    console.print(f"report: {target}\nMLflow run: {run_id} (experiment cma-monitoring)", highlight=False)


def _id_field(model: str) -> str:
    """The identifier column of the model's champion (its input contract's `id_field`)."""
    import mlflow

    from pipelines.tracking import configure_tracking

    configure_tracking()
    try:
        python_model = mlflow.pyfunc.load_model(f"models:/{model}@champion").unwrap_python_model()
        field = python_model.model.input_contract.id_field
    except Exception as err:
        raise fail(f"models:/{model}@champion: {type(err).__name__}: give --id-column") from err
    if not field:
        raise fail(f"{model}: its contract names no identifier: give --id-column or a prediction_id column")
    return str(field)


def _quarantine(errors: Any, path: Path) -> Path:
    """Write the error rows beside the file, else under `<home>/quarantine/`."""
    for folder in (path.parent, home() / "quarantine"):
        target = folder / f"{path.name}.quarantine.csv"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            errors.to_csv(target, index=False)
            return target
        except OSError:
            continue
    raise fail(f"{path}: the quarantine file could not be written")


@app.command()
def outcomes(
    file: Annotated[Path, typer.Argument(help="CSV (any separator), Parquet or .xlsx file")],
    model: Annotated[str, typer.Option("--model", "-m", help="The served model the scores came from")],
    id_column: Annotated[
        str | None, typer.Option(help="The identifier column (default: the model contract's id_field)")
    ] = None,
    events: Annotated[
        bool, typer.Option("--events", help="The file is an extract of events (identifier + event date)")
    ] = False,
    horizon_days: Annotated[
        int, typer.Option(help="--events: the horizon of the prediction, in days", min=1)
    ] = 365,
    as_of: Annotated[
        str | None, typer.Option(help="--events: the date the extract covers (default: its latest event)")
    ] = None,
    date_column: Annotated[str, typer.Option(help="--events: the event date column")] = "event_date",
    terminal: Annotated[
        bool,
        typer.Option(
            "--terminal",
            help="--events: the event ends the record (a rupture): a record whose event came on or before "
            "its scoring date is left out, not counted 0",
        ),
    ] = False,
    db: DbOpt = None,
    verbose: bool = False,
) -> None:
    """Send back what happened after the scores: outcomes by `prediction_id` or by the record's identifier
    (bad rows quarantined, never echoed), or derived from an extract of events (`--events`)."""
    setup(verbose)
    from models.contracts import ContractError
    from pipelines.io import read_raw_table
    from pipelines.monitor import outcome_rows

    if events:
        identifier = id_column or _id_field(model)
        national = _national_events(file, identifier, date_column)
        try:
            raw = read_raw_table(file) if national is None else national
        except ContractError as err:
            raise fail(str(err)) from err
        _events(raw, file, model, identifier, horizon_days, as_of, date_column, db, terminal)
        return
    try:
        raw = read_raw_table(file)
    except ContractError as err:
        raise fail(str(err)) from err
    column = None if "prediction_id" in raw.columns else (id_column or _id_field(model))
    try:
        valid, errors = outcome_rows(raw, column, file.name)
    except ValueError as err:
        raise fail(str(err)) from err
    _report_errors(errors, file)
    store = open_store(db)
    try:
        report = store.add_outcomes(model, valid, source="file") if valid else None
    finally:
        store.close()
    rejected = int(errors["row"].nunique()) if len(errors) else 0
    matched, unmatched = (report.matched, report.unmatched) if report else (0, 0)
    console.print(
        f"{file.name}: {len(raw):,} received, {len(valid):,} kept, {matched:,} matched, "
        f"{unmatched:,} unmatched, {rejected:,} rejected",
        highlight=False,
    )


def _national_events(file: Path, id_column: str, date_column: str) -> Any:
    """The events of a file in a national format (a SIFA, ERP or DECA export: the next extract of contracts
    or of ruptures), read by the project's importer (identifiers pseudonymised as at import, so that they
    join the records scored from imported files): the rows of the first imported table holding both
    columns, e.g. `--date-column rupture_date` for ruptures by `contract_id`, `contract_start` for the
    contracts a company took by `siret`. None for a file in a plain layout."""
    from catalog.formats.common import FormatError, Pseudonymiser
    from pipelines.importer import import_files, national_format
    from pipelines.reference import load_reference

    fmt = national_format(file)
    if fmt is None:
        return None
    try:
        result = import_files([file], fmt, load_reference(), Pseudonymiser.from_env())
    except FormatError as err:
        raise fail(f"{file.name}: {err}") from err
    bad = result.quarantined()
    if len(bad):
        console.print(
            f"  {file.name} ({fmt}): {len(bad):,} rows quarantined by the importer", highlight=False
        )
    for name in sorted(result.tables):
        table = result.table(name)
        if table is not None and id_column in table.columns and date_column in table.columns:
            rows = table[[id_column, date_column]]
            return rows[rows[date_column].notna()].reset_index(drop=True)
    raise fail(f"{file.name} ({fmt}): no imported table holds both {id_column} and {date_column}")


def _report_errors(errors: Any, file: Path) -> None:
    if not len(errors):
        return
    target = _quarantine(errors, file)
    for row in errors.head(20).itertuples(index=False):
        console.print(f"  {row.file}, row {row.row}, {row.field}: {row.reason}", highlight=False)
    if len(errors) > 20:
        console.print(f"  ... {len(errors) - 20:,} more", highlight=False)
    console.print(f"  quarantine: {target}", highlight=False)


def _events(
    raw: Any,
    file: Path,
    model: str,
    id_column: str | None,
    horizon_days: int,
    as_of: str | None,
    date_column: str,
    db: str | None,
    terminal: bool = False,
) -> None:
    """`outcomes --events`: the rule of `pipelines.monitor.event_outcomes`."""
    import pandas as pd

    from pipelines.monitor import event_outcomes, parse_day

    column = id_column or _id_field(model)
    missing = [c for c in (column, date_column) if c not in raw.columns]
    if missing:
        raise fail(f"{file.name}: missing column(s): {', '.join(missing)}")
    errors, kept = [], []
    for i, (ident, when) in enumerate(zip(raw[column], raw[date_column], strict=True)):
        day = parse_day(when)
        if ident is None or str(ident).strip() == "" or str(ident) == "nan":
            errors.append({"file": file.name, "row": i + 2, "field": column, "reason": "valeur manquante"})
        elif day is None:
            reason = "date attendue : AAAA-MM-JJ ou JJ/MM/AAAA"
            errors.append({"file": file.name, "row": i + 2, "field": date_column, "reason": reason})
        else:
            kept.append((str(ident).strip(), day))
    _report_errors(pd.DataFrame(errors, columns=["file", "row", "field", "reason"]), file)
    if as_of is not None:
        cutoff = parse_day(as_of)
        if cutoff is None:
            raise fail(f"--as-of {as_of!r}: a date YYYY-MM-DD or DD/MM/YYYY is expected")
    elif kept:
        cutoff = max(day for _, day in kept)
    else:
        raise fail(f"{file.name}: no valid event, and no --as-of")
    store = open_store(db)
    try:
        keys = store.record_keys(model, [ident for ident, _ in kept])
        found = pd.DataFrame({"record_key": keys, "event_date": [day for _, day in kept]})
        records = store.champion_records(model)
        open_rows = records[~records["has_outcome"]]
        derived, pending = event_outcomes(open_rows, found, horizon_days, cutoff, terminal)
        report = store.add_outcomes(model, derived, source="events") if derived else None
    finally:
        store.close()
    ones = sum(o["outcome"] for o in derived)
    console.print(
        f"{file.name}: {len(raw):,} events read, {len(kept):,} kept, {len(errors):,} rejected; "
        f"{len(records):,} predictions ({len(records) - len(open_rows):,} already with an outcome): "
        f"{ones:,} outcome 1, {len(derived) - ones:,} outcome 0, {pending:,} pending (as of {cutoff}, "
        f"horizon {horizon_days} days); {report.matched if report else 0:,} matched",
        highlight=False,
    )


@app.command("purge-monitoring")
def purge_monitoring(
    before: Annotated[str, typer.Option(help="Delete what was scored before this month, YYYY-MM")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model")] = None,
    db: DbOpt = None,
    verbose: bool = False,
) -> None:
    """Delete the monitoring data older than the retention period: the predictions counted before
    `--before` and their outcomes (run it on a schedule, e.g. keep 36 months)."""
    setup(verbose)
    since, _ = period_bounds(None, before, None)
    assert since is not None
    store = open_store(db)
    try:
        predictions, outcomes = store.purge(since, model)
    finally:
        store.close()
    console.print(
        f"{model or 'every model'}: {predictions:,} predictions and {outcomes:,} outcomes before {since} "
        "deleted",
        highlight=False,
    )
