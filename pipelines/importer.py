"""`cma-predict import`: the files a chamber or a training centre really holds (SIFA, ERP v3, DECA, RNE,
SIRENE stock; CSV, `.xlsx`, JSON or NDJSON, gzip or not) read by their format's reader (`catalog.formats`),
checked under the project's contracts, and written as the contract tables the training commands take.

Nothing personal enters: the readers drop names, addresses, contacts, national identifiers and birth dates
while reading (keyed pseudonyms and ages instead). Bad rows are quarantined with their file, line, field
(the format's own field name) and reason, never their value; valid rows are kept.
"""

from __future__ import annotations

import gzip
import logging
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

from catalog.formats import FORMATS, FormatError, FormatRead, Pseudonymiser, detect, reader
from catalog.tables import TableReadError, read_text_file
from models.contracts import (
    APPRENTICE_CONTRACTS,
    APPRENTICESHIP_CONTRACTS,
    COMPANIES,
    ContractError,
    TableContract,
    ValidationReport,
    validate_table,
)
from models.dropout_risk.national import (
    OUTCOME,
    Label,
    dropout_training_set,
    extract_config,
    merge_sources,
    outcome_values,
    scoring_rows,
)
from models.reference import Reference
from pipelines.io import write_table

logger = logging.getLogger(__name__)

CONTRACTS: dict[str, TableContract] = {
    c.name: c for c in (APPRENTICE_CONTRACTS, APPRENTICESHIP_CONTRACTS, COMPANIES)
}
QUARANTINE_COLUMNS = ["source", "line", "field", "reason"]
XLSX_MAGIC = b"PK\x03\x04"


@dataclass
class FileCount:
    """What one file gave: rows read per table, kept and quarantined."""

    source: str
    format: str
    table: str
    rows: int
    valid: int


@dataclass
class ImportResult:
    """The valid rows of every file, per contract, and everything quarantined."""

    tables: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    counts: list[FileCount] = field(default_factory=list)
    quarantine: list[pd.DataFrame] = field(default_factory=list)

    def table(self, name: str) -> pd.DataFrame | None:
        """Every file's valid rows of contract `name`, or None when no file had any."""
        frames = self.tables.get(name)
        return pd.concat(frames, ignore_index=True) if frames else None

    def quarantined(self) -> pd.DataFrame:
        """Every quarantined row: source, line, field, reason (never the value)."""
        if not self.quarantine:
            return pd.DataFrame(columns=QUARANTINE_COLUMNS)
        frame = pd.concat(self.quarantine, ignore_index=True)[QUARANTINE_COLUMNS]
        return frame.sort_values(["source", "line"], kind="stable").reset_index(drop=True)

    def summary(self) -> str:
        """Counts per file and table, then the quarantine's reasons."""
        lines = []
        for c in self.counts:
            lines.append(
                f"{c.source} ({c.format}): {c.table}: {c.rows:,} rows read, {c.valid:,} kept, "
                f"{c.rows - c.valid:,} quarantined"
            )
        bad = self.quarantined()
        if len(bad):
            counted = bad.groupby(["source", "field", "reason"]).size().reset_index(name="rows")
            for source, fld, reason, rows in counted.itertuples(index=False, name=None):
                lines.append(f"  {source}: {fld}: {reason} ({rows:,} rows)")
        return "\n".join(lines)


def _bytes(path: Path) -> bytes:
    if not path.exists():
        raise FormatError(str(path), "file not found")
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def read_format_file(path: Path, fmt: str, pseudonyms: Pseudonymiser, prediction_weeks: int) -> FormatRead:
    """One file read by its format's reader (`fmt` = `auto`: found from its bytes)."""
    raw = _bytes(path)
    if raw.startswith(XLSX_MAGIC):  # a spreadsheet: only SIFA is exported so
        if fmt not in ("auto", "sifa"):
            raise FormatError(path.name, f"an .xlsx file cannot hold the {fmt} format (JSON)")
        try:
            table = read_text_file(path)
        except TableReadError as err:
            raise FormatError(path.name, str(err)) from err
        return reader("sifa")(table, path.name, pseudonyms, prediction_weeks)
    name = detect(raw, path.name) if fmt == "auto" else fmt
    if name not in FORMATS:
        raise FormatError(path.name, f"unknown format {name!r} (known: {', '.join(FORMATS)}, auto)")
    if name == "sirene":
        header = raw.split(b"\n", 1)[0]
        history = b"dateDebut" in header and b"dateCreationEtablissement" not in header
        return _read_sirene(path, history)
    return reader(name)(raw, path.name, pseudonyms, prediction_weeks)


def _read_sirene(path: Path, history: bool = False) -> FormatRead:
    """A SIRENE establishment stock file (StockEtablissement, or StockEtablissementHistorique: `history`)
    as `companies` rows, through the SIRENE ingestion (streamed, any size); legal category and the head's
    qualification are not in it (empty). Lines are those of the ingestion's quarantine; a row it kept that
    a contract refuses is reported at line 0 (the ingestion does not carry lines through)."""
    from catalog.reference import load_passage
    from pipelines.ingest import ingest_sirene

    with tempfile.TemporaryDirectory() as tmp:
        current, past = (None, path) if history else (path, None)
        report = ingest_sirene(Path(tmp), load_passage(), stock=current, history=past)
        stock = pd.read_parquet(Path(tmp) / "establishments.parquet")
        quarantine = pd.read_csv(report.quarantine_path) if report.quarantine_path else None
    out = FormatRead(source=path.name, format="sirene")
    companies = pd.DataFrame(
        {
            "siret": stock["siret"],
            "naf_code": stock["naf_code"],
            "commune_code": stock["commune_code"],
            "creation_date": stock["creation_date"].dt.strftime("%Y-%m-%d"),
            "legal_category": None,
            "headcount_band": stock["headcount_band"],
            "head_qualification": None,
            "closure_date": stock["closure_date"].dt.strftime("%Y-%m-%d"),
            "line": 0,
        }
    )
    out.add(
        "companies",
        companies,
        {
            "siret": "siret",
            "naf_code": "activitePrincipaleEtablissement",
            "commune_code": "codeCommuneEtablissement",
            "creation_date": "dateCreationEtablissement",
            "headcount_band": "trancheEffectifsEtablissement",
        },
    )
    if quarantine is not None:
        for line, reason in zip(
            quarantine["line"].astype(int), quarantine["reason"].astype(str), strict=True
        ):
            out.errors.append({"source": path.name, "line": int(line), "column": "(ligne)", "reason": reason})
    return out


def import_files(
    paths: list[Path],
    fmt: str,
    reference: Reference,
    pseudonyms: Pseudonymiser,
    prediction_weeks: int = 6,
) -> ImportResult:
    """Every file read by its reader and checked under its contracts (`FormatError` or `ContractError`
    when a whole file cannot be read; row errors are quarantined)."""
    result = ImportResult()
    for path in paths:
        read = read_format_file(path, fmt, pseudonyms, prediction_weeks)
        if read.errors:
            errors = pd.DataFrame(read.errors).rename(columns={"column": "field"})
            result.quarantine.append(errors)
        # Rows the reader itself set aside count with its first (main) table: a record that could not be
        # keyed is a learner's contract not read (DECA still gives its chamber contract row).
        reader_rows = len({e["line"] for e in read.errors})
        for rank, (name, frame) in enumerate(read.tables.items()):
            contract = CONTRACTS[name]
            columns = contract.column_names
            lines = frame.get("line")
            valid, report = validate_table(
                frame[columns], contract, reference, source=read.source, lines=lines
            )
            fields = read.source_fields.get(name, {})
            errors = report.errors.drop(columns=["value"]).rename(columns={"column": "field"})
            errors["field"] = errors["field"].replace(fields)
            result.quarantine.append(errors)
            result.tables.setdefault(name, []).append(valid)
            result.counts.append(
                FileCount(
                    read.source,
                    read.format,
                    name,
                    report.n_rows + (reader_rows if rank == 0 else 0),
                    report.n_valid,
                )
            )
        if not read.tables:
            result.counts.append(FileCount(read.source, read.format, "-", reader_rows, 0))
    return result


def national_format(path: Path) -> str | None:
    """The national format of `path` when it is one (`catalog.formats.detect`), None for a file in the
    project's own contract layout (or one that cannot be opened: the contract reader then says why)."""
    try:
        raw = _bytes(path)
    except (FormatError, OSError):
        return None
    if raw.startswith(XLSX_MAGIC):
        return None  # a spreadsheet in the contract layout (a SIFA .xlsx is imported with `import`)
    try:
        return detect(raw, path.name)
    except FormatError:
        return None


def read_contract_file(
    path: Path, contract: TableContract, reference: Reference, quarantine_dir: Path
) -> tuple[pd.DataFrame, ValidationReport] | None:
    """A national-format file read straight into `contract`'s valid rows (what `build-dataset` and `train`
    do with an RNE or DECA file given for companies or contracts), its quarantine written under
    `quarantine_dir`; None when the file is in the contract's own layout."""
    fmt = national_format(path)
    if fmt is None:
        return None
    result = import_files([path], fmt, reference, Pseudonymiser.from_env())
    frame = result.table(contract.name)
    if frame is None:
        raise ContractError(path.name, f"a {fmt} file holds no '{contract.name}' rows")
    bad = result.quarantined()
    rows = sum(c.rows for c in result.counts if c.table == contract.name)
    report = ValidationReport(
        source=path.name,
        n_rows=rows,
        n_valid=len(frame),
        errors=bad.rename(columns={"field": "column"}).assign(value=""),
    )
    if len(bad):
        quarantine_dir.mkdir(parents=True, exist_ok=True)
        bad.to_csv(quarantine_dir / f"{path.name}.quarantine.csv", index=False)
    return frame, report


def extraction_date(contracts: pd.DataFrame) -> date:
    """The extraction date a set of files implies when none is given: the latest start or rupture seen."""
    latest = pd.concat([contracts["contract_start"], contracts["rupture_date"]]).dropna().max()
    return pd.Timestamp(latest).date()


@dataclass(frozen=True)
class TrainingSetOptions:
    """How the dropout training set is labelled (`models.dropout_risk.national`)."""

    label: Label = "gross"
    relapse_months: int = 3
    as_of: date | None = None
    name: str = "import"
    prediction_weeks: int = 6


def write_import(
    result: ImportResult, out: Path, options: TrainingSetOptions, oracle: Path | None = None
) -> list[Path]:
    """The contract tables, the quarantine, and (with apprentice contracts) the dropout training set, its
    retraining config and the running contracts to score; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(frame: pd.DataFrame, name: str) -> None:
        target = out / name
        frame.to_csv(target, index=False, date_format="%Y-%m-%d")
        written.append(target)

    companies = result.table("companies")
    if companies is not None:
        write(companies.drop_duplicates("siret"), "companies.csv")
    deals = result.table("apprenticeship_contracts")
    if deals is not None:
        write(deals.drop_duplicates("contract_id"), "contracts.csv")
    rows = result.table("apprentice_contracts")
    if rows is not None and len(rows):
        # The contract table as the files said it (one row per source); the training set merges them,
        # point in time (`merge_sources`).
        write(rows.sort_values(["contract_id", "source"], kind="stable"), "apprentice_contracts.csv")
        merged = merge_sources(rows, options.prediction_weeks)
        as_of = options.as_of or extraction_date(merged)
        training = dropout_training_set(merged, as_of, options.relapse_months)
        if oracle is not None:
            known = pd.read_csv(oracle, dtype={"contract_id": str})
            column = "oracle_rupture" if options.label == "gross" else "oracle_definitive"
            training = training.merge(
                known[["contract_id", column]].rename(columns={column: "oracle_probability"}),
                on="contract_id",
                how="left",
                validate="one_to_one",
            )
        write(training, "dropout_training_set.csv")
        positive, negative = outcome_values(options.label)
        labelled = training[OUTCOME].isin([*positive, *negative])
        config = extract_config(
            options.name,
            options.label,
            options.relapse_months,
            as_of,
            str(out / "dropout_training_set.csv"),
            int(labelled.sum()),
        )
        if oracle is not None:
            config["columns"]["oracle"] = "oracle_probability"
        target = out / "dropout_training_set.yaml"
        target.write_text(
            "# Retraining dropout_risk on the imported contracts: cma-predict train-extract --config "
            f"{target}\n" + yaml.safe_dump(config, allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )
        written.append(target)
        running = scoring_rows(training.drop(columns=["oracle_probability"], errors="ignore"))
        write(running, "a_scorer.csv")
        written.append(write_table(running, out / "a_scorer.xlsx"))  # what agents open and upload
        logger.info("%s contracts, %s running at %s", len(training), len(running), as_of)
        counts = training[OUTCOME].value_counts()
        (out / "outcomes.csv").write_text(counts.rename("contracts").to_csv(), encoding="utf-8")
        written.append(out / "outcomes.csv")
    quarantine = result.quarantined()
    write(quarantine, "quarantine.csv")
    return written


__all__ = ["ImportResult", "TrainingSetOptions", "import_files", "write_import"]
