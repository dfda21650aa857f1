"""`cma-predict score`: a chamber's files scored by a registered model, in batches (`pipelines.batch`), or on
Spark (`--engine spark`, `pipelines.spark`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.cli.common import app, console, fail, progress, setup

ENGINES = ("local", "spark")


@app.command()
def score(
    model: Annotated[
        str, typer.Option("--model", "-m", help="A registered model (e.g. apprenticeship_host)")
    ],
    inputs: Annotated[
        list[str],
        typer.Option(
            "--input", "-i", help="CSV, Parquet or .xlsx file, glob or folder of part files (repeatable)"
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output file: .parquet, or .csv")],
    alias: Annotated[
        str | None, typer.Option(help="The version carrying this alias (default champion)")
    ] = None,
    version: Annotated[int | None, typer.Option(help="This version number instead of an alias")] = None,
    reasons: Annotated[bool, typer.Option("--reasons", help="Add the 3 main reasons of each score")] = False,
    engine: Annotated[str, typer.Option(help="local (batches in this process) or spark")] = "local",
    batch_rows: Annotated[int | None, typer.Option(help="Rows per batch (local engine)", min=1)] = None,
    master: Annotated[str, typer.Option(help="Spark master (--engine spark)")] = "local[2]",
    keep: Annotated[
        bool,
        typer.Option(
            "--keep/--no-keep",
            help="Keep the scores for monitoring (a prediction id per row, joined later to its outcome)",
        ),
    ] = True,
    monitoring_db: Annotated[
        str | None,
        typer.Option(help="Monitoring store: a SQLite file or a database URL (default: the service's)"),
    ] = None,
    chamber: Annotated[
        str | None,
        typer.Option(
            help="The chamber the scores are kept for: its agents' outcomes (POST /v1/outcomes) join them "
            "(without it, only outcomes sent from the command line do)"
        ),
    ] = None,
    verbose: bool = False,
) -> None:
    """Score files with a registered model: the API's validation and scores, invalid rows quarantined, each
    score kept for monitoring with its prediction id (local engine)."""
    setup(verbose)
    from pipelines.batch import BATCH_ROWS, BatchInputError, input_files, input_rows, key_columns, load_model
    from pipelines.tracking import configure_tracking

    if alias is not None and version is not None:
        raise fail("--alias and --version are exclusive")
    if engine not in ENGINES:
        raise fail(f"--engine must be one of {', '.join(ENGINES)}")
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise fail(f"--out {out}: the output is a .parquet or a .csv file")
    configure_tracking()
    try:
        files = input_files(inputs)
        loaded = load_model(model, alias or "champion", version)
    except BatchInputError as err:
        raise fail(str(err)) from err
    except Exception as err:  # MLflow's and the digest check's errors: said, not a traceback
        target = (
            f"models:/{model}/{version}" if version is not None else f"models:/{model}@{alias or 'champion'}"
        )
        raise fail(f"{target}: {type(err).__name__}: {err}") from err
    start = time.perf_counter()
    if engine == "spark":
        if keep:
            console.print(
                "note: scores computed on Spark are not kept for monitoring (no prediction id); score with "
                "--engine local to follow their outcomes",
                highlight=False,
            )
        _spark(f"models:/{model}/{loaded.version}", files, out, key_columns(loaded), reasons, master)
        return
    store = _monitoring_store(monitoring_db) if keep else None
    try:
        report = _local(loaded, files, out, reasons, batch_rows or BATCH_ROWS, input_rows, store, chamber)
    finally:
        if store is not None:
            store.close()
    seconds = time.perf_counter() - start
    console.print(
        f"{report.model} v{report.version}: {report.rows:,} rows read, {report.scored:,} scored, "
        f"{report.quarantined:,} quarantined in {seconds:.1f} s ({report.rows / max(seconds, 1e-9):,.0f} "
        f"rows/s)",
        highlight=False,
    )
    for path, (rows, bad) in report.files.items():
        console.print(f"  {path}: {rows:,} rows, {bad:,} quarantined", highlight=False)
    console.print(f"  scores: {report.out}", highlight=False)
    if store is not None:
        console.print(f"  kept for monitoring: {report.scored:,} prediction ids", highlight=False)
    if report.quarantine is not None:
        console.print(f"  quarantine: {report.quarantine}", highlight=False)


def _monitoring_store(target: str | None) -> Any:
    """The monitoring store the scores are kept in: `target` (a file or a URL), else the service's."""
    from pipelines.cli.monitor import open_store

    try:
        return open_store(target)
    except Exception as err:  # an unreachable database: said, not a traceback
        raise fail(
            f"monitoring store {target or 'of the service'}: {type(err).__name__}: {str(err)[:200]}"
        ) from err


def _local(
    loaded: Any,
    files: list[Path],
    out: Path,
    reasons: bool,
    batch_rows: int,
    rows_of: Any,
    store: Any = None,
    chamber: str | None = None,
) -> Any:
    from pipelines.batch import BatchInputError, score_files

    counts = [rows_of(path) for path in files]
    total = sum(c for c in counts if c is not None) if None not in counts else None
    try:
        with progress() as bar:
            task = bar.add_task(f"Scoring with {loaded.name} v{loaded.version}", total=total)
            return score_files(
                loaded,
                files,
                out,
                reasons,
                batch_rows,
                on_batch=lambda n: bar.advance(task, n),
                keep=store,
                chamber=chamber,
            )
    except BatchInputError as err:
        raise fail(str(err)) from err


def _spark(model_uri: str, files: list[Path], out: Path, keys: list[str], reasons: bool, master: str) -> None:
    """`--engine spark`: the same job on a Spark session (`pipelines.spark.score_spark`)."""
    missing = (
        "--engine spark is not available ({err}): install the `spark` extra (pyspark) and Java 17, or use "
        "--engine local"
    )
    try:
        from pipelines.spark import score_spark
    except ImportError as err:
        raise fail(missing.format(err=err)) from err
    try:
        report = score_spark(model_uri, files, out, key_columns=keys, reasons=reasons, master=master)
    except ImportError as err:  # pyspark is imported when a session is made
        raise fail(missing.format(err=err)) from err
    except ValueError as err:  # the job's own errors (`SparkScoringError`): said, not a traceback
        raise fail(str(err)) from err
    console.print(
        f"{report.model_name} v{report.model_version} on Spark ({master}): {report.rows_scored:,} rows "
        f"scored in {report.seconds:.1f} s",
        highlight=False,
    )
    console.print(f"  scores: {report.out}", highlight=False)
