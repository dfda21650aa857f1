"""Data commands: simulate a chamber or a training centre (SYNTHETIC, with the oracle), compare a simulator
with the published figures, build the point-in-time dataset of a chamber's own files."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from models.contracts import ContractError
from pipelines.cli.common import app, console, dataset_path, fail, progress, setup
from pipelines.io import write_table
from pipelines.reference import load_reference

SIMULATORS: tuple[str, ...] = ("apprenticeship_host", "dropout_risk")
LAYOUTS: tuple[str, ...] = ("contracts", "national")


def write_chamber(chamber: Any, directory: Path, fmt: str = "parquet") -> list[Path]:
    """Write a simulated chamber (companies, contracts, oracle) as Parquet or CSV files."""
    return [
        write_table(chamber.companies, directory / f"companies.{fmt}"),
        write_table(chamber.contracts, directory / f"contracts.{fmt}"),
        write_table(chamber.company_years, directory / f"oracle.{fmt}"),
    ]


def write_centre(centre: Any, directory: Path, fmt: str = "parquet") -> list[Path]:
    """Write a simulated training centre (learners, contracts, follow-up, employers, oracle)."""
    return [
        write_table(centre.learners, directory / f"learners.{fmt}"),
        write_table(centre.contracts, directory / f"contracts.{fmt}"),
        write_table(centre.follow_up, directory / f"follow_up.{fmt}"),
        write_table(centre.companies, directory / f"companies.{fmt}"),
        write_table(centre.oracle, directory / f"oracle.{fmt}"),
    ]


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
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv (--layout contracts)")] = "parquet",
    layout: Annotated[
        str,
        typer.Option(
            help="contracts: the project's contract tables; national: the real export layouts (dropout_risk: "
            "SIFA, ERP v3, DECA; apprenticeship_host: RNE, DECA), with invented personal data and the oracle "
            "keyed with CMA_PSEUDONYM_KEY"
        ),
    ] = "contracts",
    gzip_over: Annotated[
        int | None, typer.Option(help="--layout national: gzip the files larger than this many KB")
    ] = None,
    verbose: bool = False,
) -> None:
    """Simulate a chamber's or a training centre's records (SYNTHETIC, with the oracle)."""
    setup(verbose)
    if fmt not in ("parquet", "csv"):
        raise fail("--format must be parquet or csv")
    if model not in SIMULATORS:
        raise fail(f"--model must be one of {', '.join(SIMULATORS)}")
    if layout not in LAYOUTS:
        raise fail(f"--layout must be one of {', '.join(LAYOUTS)}")
    target = out or dataset_path(model).parent
    start = time.perf_counter()
    if layout == "national":
        paths = _simulate_national(
            model, target, companies, years, first_year, contracts, prediction_weeks, seed, gzip_over
        )
    elif model == "dropout_risk":
        from models.simulation.training_centre import TrainingCentreParams, simulate_training_centre

        centre_params = TrainingCentreParams(
            n_contracts=contracts, prediction_weeks=prediction_weeks, seed=seed
        )
        with progress() as bar:
            task = bar.add_task(f"Simulating {contracts:,} contracts", total=2)
            centre = simulate_training_centre(load_reference(), centre_params, lambda _: bar.advance(task))
            paths = write_centre(centre, target, fmt)
        console.print(
            f"SYNTHETIC training centre: {len(centre.contracts):,} contracts, {len(centre.follow_up):,} "
            f"follow-up weeks, {len(centre.companies):,} employers in {time.perf_counter() - start:.1f} s"
        )
    else:
        from models.simulation.chamber import ChamberSimulationParams, simulate_chamber

        params = ChamberSimulationParams(
            n_companies=companies, n_years=years, first_year=first_year, seed=seed
        )
        with progress() as bar:
            total = params.history_years + params.n_years
            task = bar.add_task(f"Simulating {companies:,} companies x {total} years", total=total)
            chamber = simulate_chamber(load_reference(), params, on_year=lambda _: bar.advance(task))
            bar.update(task, description="Writing files")
            paths = write_chamber(chamber, target, fmt)
        console.print(
            f"SYNTHETIC chamber: {len(chamber.companies):,} companies, {len(chamber.contracts):,} contracts, "
            f"{len(chamber.company_years):,} company-years in {time.perf_counter() - start:.1f} s"
        )
    for path in paths:
        console.print(f"  {path}")


def _simulate_national(
    model: str,
    target: Path,
    companies: int,
    years: int,
    first_year: int,
    contracts: int,
    prediction_weeks: int,
    seed: int,
    gzip_over: int | None,
) -> list[Path]:
    """`simulate --layout national`: the simulation written in the real export layouts (SYNTHETIC)."""
    from catalog.formats.common import FormatError, Pseudonymiser
    from pipelines.layouts import shipped_postal_codes, write_chamber_national, write_national

    try:
        pseudonyms = Pseudonymiser.from_env()
    except FormatError as err:
        raise fail(str(err)) from err
    threshold = None if gzip_over is None else gzip_over * 1000
    start = time.perf_counter()
    if model == "dropout_risk":
        from models.simulation.apprentices import ApprenticeSimulationParams, simulate_apprentices

        try:
            params = ApprenticeSimulationParams(
                n_contracts=contracts, prediction_weeks=prediction_weeks, seed=seed
            )
        except ValueError as err:
            raise fail(f"simulation parameters: {err}") from err
        with progress() as bar:
            task = bar.add_task(f"Simulating {contracts:,} apprentices", total=2)
            sim = simulate_apprentices(load_reference(), params, shipped_postal_codes())
            bar.update(task, advance=1, description="Writing SIFA, ERP v3, DECA and the oracle")
            paths = write_national(sim, target, pseudonyms, threshold)
            bar.advance(task)
        console.print(
            f"SYNTHETIC apprentices (national layouts): {len(sim.learners):,} learners, "
            f"{len(sim.contracts):,} contracts, as of {params.extraction_date} in "
            f"{time.perf_counter() - start:.1f} s"
        )
        return paths
    from models.simulation.chamber import ChamberSimulationParams, simulate_chamber

    chamber_params = ChamberSimulationParams(
        n_companies=companies, n_years=years, first_year=first_year, seed=seed
    )
    with progress() as bar:
        total = chamber_params.history_years + chamber_params.n_years
        task = bar.add_task(f"Simulating {companies:,} companies x {total} years", total=total + 1)
        chamber = simulate_chamber(load_reference(), chamber_params, on_year=lambda _: bar.advance(task))
        bar.update(task, description="Writing RNE, DECA and the oracle")
        paths = write_chamber_national(chamber, target, pseudonyms, threshold, seed=seed)
        bar.advance(task)
    console.print(
        f"SYNTHETIC chamber (national layouts): {len(chamber.companies):,} companies, "
        f"{len(chamber.contracts):,} contracts in {time.perf_counter() - start:.1f} s"
    )
    return paths


@app.command("simulator-report")
def simulator_report(
    model: Annotated[
        str, typer.Option("--model", "-m", help="apprenticeship_host, dropout_risk or site_potential")
    ] = "apprenticeship_host",
    size: Annotated[
        int,
        typer.Option(
            help="Companies (host), contracts (dropout) or active artisan establishments (site: BPE "
            "placement at size / 1,114,000 of France, at most 1)"
        ),
    ] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 42,
    verbose: bool = False,
) -> None:
    """Print, as Markdown, each published figure a simulator is calibrated on next to its simulated rate."""
    setup(verbose)
    reference = load_reference()
    with progress() as bar:
        bar.add_task(f"Simulating {size:,} records", total=None)
        counts_report = None
        if model == "site_potential":
            from catalog.reference import BPE_SAMPLE, load_bpe_types, load_passage
            from models.simulation.sirene import (
                ISM_ARTISAN_FIRMS_2012,
                SireneSimulationParams,
                count_calibration_report,
                simulate_sirene,
                survival_calibration_report,
            )
            from pipelines.bpe import read_bpe

            types = load_bpe_types()
            bpe, _, _ = read_bpe(BPE_SAMPLE, reference, load_passage(), types)
            site_params = SireneSimulationParams(
                placement="bpe", scale=min(1.0, size / ISM_ARTISAN_FIRMS_2012), seed=seed
            )
            sim = simulate_sirene(reference, site_params, bpe, types)
            report = survival_calibration_report(sim, reference)
            counts_report = count_calibration_report(sim, reference, site_params, bpe, types)
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
    if counts_report is not None:
        console.print(_counts_table(counts_report), soft_wrap=True, highlight=False, markup=False)


def _counts_table(report: pd.DataFrame) -> str:
    """site_potential: the published counts next to the simulated active establishments, as Markdown."""
    lines = [
        "",
        "| figure | published | artisan share | expected at this scale | simulated | gap | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report.to_dict("records"):
        lines.append(
            f"| {row['figure']} | {row['published']:,.0f} | {row['artisan_share']:.0%} "
            f"| {row['expected']:,.1f} | {row['simulated']:,} | {row['gap_pct']:+.1f} % | {row['source']} |"
        )
    return "\n".join(lines)


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
    setup(verbose)
    from models.apprenticeship_host.dataset import build_host_datasets
    from models.contracts import APPRENTICESHIP_CONTRACTS, COMPANIES
    from pipelines.runner import pipeline_data

    try:
        cutoffs = [date.fromisoformat(c) for c in cutoff]
    except ValueError as err:
        raise fail(f"--cutoff: {err} (expected YYYY-MM-DD)") from err
    quarantine = out.parent / "quarantine"
    data = pipeline_data(quarantine)
    try:
        with progress() as bar:
            task = bar.add_task("Validating companies", total=None)
            firms, _ = data.read_validated(companies, COMPANIES)
            bar.update(task, description="Validating contracts")
            deals, _ = data.read_validated(contracts, APPRENTICESHIP_CONTRACTS)
            bar.update(task, description=f"Building {len(cutoffs)} cut-off(s)")
            dataset = build_host_datasets(firms, deals, cutoffs)
            if oracle is not None:
                known = data.read_table(oracle).assign(cutoff_date=lambda f: pd.to_datetime(f["cutoff_date"]))
                known = known.assign(siret=known["siret"].astype(str))
                columns = ["siret", "cutoff_date", "oracle_probability"]
                dataset = dataset.merge(known[columns], on=columns[:2], how="left", validate="one_to_one")
            write_table(dataset, out)
    except ContractError as err:
        raise fail(str(err)) from err
    for report in data.reports:
        console.print(report.summary(max_lines=5))
        if report.n_invalid:
            console.print(f"  quarantine: {quarantine / (report.source + '.quarantine.csv')}")
    console.print(f"{len(dataset):,} company-years written to {out}")
