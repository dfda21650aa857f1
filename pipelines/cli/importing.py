"""`cma-predict import`: the national formats a chamber or a training centre exports (SIFA, ERP v3, DECA,
RNE, SIRENE stock), read into the project's contract tables, personal data dropped at read time."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from models.contracts import ContractError
from pipelines.cli.common import app, console, fail, setup

FORMAT_HELP = "sifa, erp, deca, rne, sirene, or auto (found from each file's first bytes)"


@app.command("import")
def import_cmd(
    files: Annotated[
        list[Path], typer.Argument(help="Exports to read (CSV, .xlsx, JSON, NDJSON, gzip or not)")
    ],
    out: Annotated[Path, typer.Option(help="Folder of the contract tables written")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)] = "auto",
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Extraction date YYYY-MM-DD: later outcomes are unknown (default: latest date seen)"
        ),
    ] = None,
    label: Annotated[
        str,
        typer.Option(
            help="Dropout label: gross (any rupture) or definitive (no new contract within N months)"
        ),
    ] = "gross",
    relapse_months: Annotated[int, typer.Option(help="N: months for a new contract after a rupture")] = 3,
    prediction_weeks: Annotated[
        int, typer.Option(help="Weeks after the contract start at which the age is taken")
    ] = 6,
    name: Annotated[
        str, typer.Option(help="Short name of the centre, in the registered model's name")
    ] = "import",
    oracle: Annotated[
        Path | None, typer.Option(help="Simulator oracle to join (SYNTHETIC example files only)")
    ] = None,
    verbose: bool = False,
) -> None:
    """Read national-format exports into the contract tables (`companies.csv`, `contracts.csv`,
    `apprentice_contracts.csv`), with the dropout training set, its retraining config and the running
    contracts to score when the files hold apprentices; bad rows in `quarantine.csv` (file, line, field,
    reason). Needs the pseudonymisation secret in CMA_PSEUDONYM_KEY."""
    setup(verbose)
    from catalog.formats import FormatError, Pseudonymiser
    from pipelines.importer import TrainingSetOptions, import_files, write_import
    from pipelines.reference import load_reference

    if label not in ("gross", "definitive"):
        raise fail("--label must be gross or definitive")
    try:
        extraction = date.fromisoformat(as_of) if as_of else None
    except ValueError as err:
        raise fail(f"--as-of: {err} (expected YYYY-MM-DD)") from err
    options = TrainingSetOptions(label, relapse_months, extraction, name, prediction_weeks)  # type: ignore[arg-type]
    try:
        pseudonyms = Pseudonymiser.from_env()
        result = import_files(files, fmt, load_reference(), pseudonyms, prediction_weeks)
        written = write_import(result, out, options, oracle)
    except (FormatError, ContractError) as err:
        raise fail(str(err)) from err
    console.print(result.summary(), highlight=False, markup=False)
    for path in written:
        console.print(f"  {path}", highlight=False)
