"""Site-potential commands: ingest SIRENE files, train the survival models (ingestion and store first), and
the flash diagnostic of a business project (`--pdf` for the advisors' report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from models.contracts import ContractError
from pipelines.cli.common import ConfigOpt, SetOpt, app, console, fail, home, progress, setup
from pipelines.reference import REFERENCE_DIR, load_reference

SAMPLE = ("96.02A", "69384")  # hairdressing in Lyon 4e: the diagnostic `make run` prints


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
    setup(verbose)
    from catalog.reference import load_passage
    from catalog.site import site_dir
    from pipelines.ingest import ingest_sirene

    if stock is None and history is None:
        raise fail("give --stock, --history or both")
    target = out or site_dir(home())
    try:
        with progress() as bar:
            bar.add_task("Ingesting SIRENE", total=None)
            report = ingest_sirene(
                target, load_passage(), stock=stock, history=history, memory_limit=memory_limit
            )
    except ContractError as err:
        raise fail(str(err)) from err
    console.print(report.summary(), highlight=False)


@app.command("ingest-bpe")
def ingest_bpe_cmd(
    files: Annotated[list[Path], typer.Argument(help="INSEE BPE files (ensemble, or counts with NB_EQUIP)")],
    year: Annotated[int | None, typer.Option(help="Year of a file without an AN column")] = None,
    out: Annotated[Path | None, typer.Option(help="Store folder (default var/data/site_potential)")] = None,
    verbose: bool = False,
) -> None:
    """Read INSEE BPE files into the diagnostic's store: the competitor counts of the activities BPE covers,
    replacing the years the files hold (restart the service to show them)."""
    setup(verbose)
    from catalog.reference import load_bpe_types, load_passage, load_reference
    from catalog.site import site_dir
    from pipelines.bpe import ingest_bpe

    target = out or site_dir(home())
    for path in files:
        try:
            report = ingest_bpe(path, target, load_reference(), load_passage(), load_bpe_types(), year)
        except ContractError as err:
            raise fail(str(err)) from err
        console.print(report.summary(), highlight=False)


@app.command("train-site")
def train_site(config: ConfigOpt = None, set_: SetOpt = None, verbose: bool = False) -> None:
    """Ingest (or simulate) SIRENE, build the diagnostic's store, train and register the survival models
    (`train --model site_potential`)."""
    from pipelines.cli.train import train

    train(model="site_potential", config=config, set_=set_, dataset=None, verbose=verbose)


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
    setup(verbose)
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
        store = load_store(site_dir(home()))
    except StoreNotFoundError as err:
        raise fail(str(err)) from err
    try:
        models = site.load_survival_champions(suffix)
    except Exception as err:
        raise fail(
            f"survival models not found in the registry ({err}); run `cma-predict train-site`"
        ) from err
    contours = load_commune_contours(REFERENCE_DIR, home() / "cache") if pdf is not None else None
    try:
        report = compose(naf, commune, store, reference, models, contours)
    except UnknownCodeError as err:
        raise fail(str(err)) from err
    if pdf is not None:
        pdf.parent.mkdir(parents=True, exist_ok=True)
        pdf.write_bytes(report.pdf())
    if as_json:
        console.print_json(json.dumps(report.diagnostic.to_dict(), ensure_ascii=False))
    else:
        print_diagnostic(report.diagnostic)
    if pdf is not None:
        console.print(f"PDF : {pdf}")


def print_diagnostic(result: Any) -> None:
    """A diagnostic in French, for the terminal."""
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
    for col in ("indicateur", "valeur", "département", "France", "unité", "source"):
        table.add_column(col)

    def fmt(value: float | None) -> str:
        return "n.d." if value is None else f"{value:,.1f}".replace(",", " ")

    for ind in result.indicators:
        table.add_row(
            ind.label,
            fmt(ind.value),
            fmt(ind.departement_value),
            fmt(ind.national_value),
            ind.unit,
            ind.source,
        )
    console.print(table)
    console.print("[bold]Sources[/]")
    for source in result.sources:
        console.print(f"  - {source}")
    console.print("[bold]Principales raisons[/]")
    for reason in result.reasons:
        console.print(f"  - {reason}")
    for warning in result.warnings:
        console.print(f"[yellow]Attention :[/] {warning}")


def print_sample_diagnostic(suffix: str = "") -> None:
    """The diagnostic `make run` prints (when the store and the survival champions exist), and the map's
    contours parsed once into the cache for the service."""
    from mlflow.exceptions import MlflowException

    from catalog.contours import load_commune_contours
    from catalog.site import StoreNotFoundError, load_store, site_dir
    from models.site_potential.flash import compose
    from pipelines import site

    try:
        store = load_store(site_dir(home()))
        models = site.load_survival_champions(suffix)
    except (StoreNotFoundError, MlflowException) as err:  # nothing to show yet: say why
        console.print(f"No sample diagnostic: {err}")
        return
    print_diagnostic(compose(*SAMPLE, store, load_reference(), models).diagnostic)
    load_commune_contours(REFERENCE_DIR, home() / "cache")
