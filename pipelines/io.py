"""Reading chamber files under their contract (with quarantine) and writing generated tables."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from catalog.tables import TableReadError, read_text_file, write_xlsx
from models.contracts import ContractError, TableContract, ValidationReport, validate_table
from models.reference import Reference

logger = logging.getLogger(__name__)


def read_raw_table(path: Path) -> pd.DataFrame:
    """A CSV (`, ; tab |`, UTF-8 with or without BOM, optionally gzip), `.xlsx` (its first sheet; told by
    its bytes, not its name) or Parquet file, every column as text, by the one reading rule of the
    chambers' exports (`catalog.tables`, also used by the API)."""
    if not path.exists():
        raise ContractError(str(path), "file not found")
    try:
        frame = read_text_file(path)
    except TableReadError as err:
        raise ContractError(str(path), str(err)) from err
    if frame.shape[1] == 0:
        raise ContractError(str(path), "no columns found (empty file?)")
    return frame


def read_validated(
    path: Path, contract: TableContract, reference: Reference, quarantine_dir: Path | None = None
) -> tuple[pd.DataFrame, ValidationReport]:
    """Read `path` under `contract`: valid rows typed, invalid rows written to `<stem>.quarantine.csv`."""
    raw = read_raw_table(path)
    valid, report = validate_table(raw, contract, reference, source=path.name)
    if report.n_invalid:
        target = (quarantine_dir or path.parent) / f"{path.name}.quarantine.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        report.errors.to_csv(target, index=False)
        logger.warning("%s\nquarantine written to %s", report.summary(), target)
    else:
        logger.info(report.summary())
    return valid, report


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write a generated table as Parquet, `.xlsx` or CSV (by extension), creating the folder. In a
    workbook, texts are text cells (never formulas) and dates are dates shown `YYYY-MM-DD`, which read
    back as the CSV's ISO dates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".xlsx":
        write_xlsx(path, [str(name) for name in frame.columns], frame.itertuples(index=False, name=None))
    else:
        frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path
