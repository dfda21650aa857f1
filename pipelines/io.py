"""Reading chamber files under their contract (with quarantine) and writing generated tables."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pandas as pd

from models.contracts import ContractError, TableContract, ValidationReport, validate_table
from models.reference import Reference

logger = logging.getLogger(__name__)


def _sniff_separator(path: Path) -> str:
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        sample = handle.read(64_000)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A typed frame as a CSV export would give it: dates as YYYY-MM-DD, everything text, missing = ""."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_datetime64_any_dtype(col):
            out[name] = col.dt.strftime("%Y-%m-%d").fillna("")
        else:
            out[name] = col.astype("string").fillna("")
    return pd.DataFrame(out)


def read_raw_table(path: Path) -> pd.DataFrame:
    """A CSV (any of `, ; tab |`, UTF-8 with or without BOM) or Parquet file, every column as text."""
    if not path.exists():
        raise ContractError(str(path), "file not found")
    if path.suffix == ".parquet":
        return as_text(pd.read_parquet(path))
    frame = pd.read_csv(
        path,
        dtype=str,
        keep_default_na=False,
        sep=_sniff_separator(path),
        encoding="utf-8-sig",
        compression="infer",
    )
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
    """Write a generated table as Parquet or CSV (by extension), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path
