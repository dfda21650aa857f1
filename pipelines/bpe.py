"""INSEE's Base permanente des équipements (BPE) into the site store: the competitor counts of the activities
BPE covers, by commune and year (`competition.parquet`).

Reads the files INSEE publishes, as they are downloaded:
- the "ensemble" file (`bpe21_ensemble_xy.csv`, `BPE23.csv`...): one row per equipment, `;`-separated, with
  `DEPCOM`, `TYPEQU`, `AN` (and coordinates, not read);
- the counts by commune (`NB_EQUIP` column), the layout of the shipped 2009/2013 sample
  (`data_samples/bpe/`).

Only the equipment types of the NAF -> BPE table (`catalog.reference.load_bpe_types`) are kept; the other
types are counted in the report. A row whose commune or type is malformed, or whose commune is unknown in
COG 2026 and its passage table, is quarantined with its line and reason (never its values); former commune
codes are brought to COG 2026 and their counts summed. A file replaces the years it holds in the store and
keeps the others, so a current BPE file adds its year next to 2009 and 2013 with no code change.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from catalog.site import COMPETITION
from catalog.tables import separator_of
from models.contracts import ContractError
from models.reference import Reference

COLUMNS = ("year", "commune_code", "typequ", "count")
COMMUNE_PATTERN = r"^(?:[0-9]{5}|2[AB][0-9]{3})$"
TYPE_PATTERN = r"^[A-G][0-9]{2}[0-9A-Z]$"


@dataclass
class BpeReport:
    """What a BPE file gave: rows read, kept, of other types, quarantined (by reason), years."""

    file: str
    rows_read: int = 0
    rows_kept: int = 0
    other_types: int = 0
    communes_remapped: int = 0
    years: list[int] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    quarantine_path: Path | None = None

    @property
    def rows_quarantined(self) -> int:
        """Rows set aside, all reasons together."""
        return sum(self.reasons.values())

    def summary(self) -> str:
        """Counts in a few lines."""
        years = ", ".join(map(str, self.years))
        lines = [
            f"{self.file}: {self.rows_read:,} rows read, {self.rows_kept:,} kept (BPE {years}), "
            f"{self.other_types:,} of other equipment types, {self.rows_quarantined:,} quarantined"
        ]
        lines += [
            f"    {n:,} x {reason}" for reason, n in sorted(self.reasons.items(), key=lambda kv: -kv[1])
        ]
        if self.communes_remapped:
            lines.append(f"  {self.communes_remapped:,} rows with a former commune code mapped to COG 2026")
        if self.quarantine_path:
            lines.append(f"  quarantine: {self.quarantine_path}")
        return "\n".join(lines)


def _delimiter(path: Path) -> str:
    """The file's separator by the project's one reading rule (`catalog.tables.separator_of`)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace") as handle:
        return separator_of(handle.readline())


def read_bpe(
    path: Path, reference: Reference, passage: pd.DataFrame, types: pd.DataFrame, year: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, BpeReport]:
    """(counts, quarantine, report) of one BPE file: counts are `year, commune_code, typequ, count` summed by
    COG 2026 commune; the quarantine lists `file, line, field, reason`. `year` is used when the file has no
    `AN` column. Raises `ContractError` when `DEPCOM` or `TYPEQU` is missing, or the year is unknown."""
    if not path.exists():
        raise ContractError(str(path), "file not found")
    raw = pd.read_csv(
        path,
        sep=_delimiter(path),
        dtype=str,
        keep_default_na=False,
        encoding="utf-8-sig",
        quoting=csv.QUOTE_MINIMAL,
        usecols=lambda name: name.strip().upper() in {"AN", "DEPCOM", "TYPEQU", "NB_EQUIP"},
    )
    raw.columns = [c.strip().upper() for c in raw.columns]
    missing = [c for c in ("DEPCOM", "TYPEQU") if c not in raw.columns]
    if missing:
        raise ContractError(path.name, f"not a BPE file: column(s) {', '.join(missing)} missing")
    if "AN" not in raw.columns:
        if year is None:
            raise ContractError(path.name, "no AN column: give the year of the file (--year)")
        raw["AN"] = str(year)
    report = BpeReport(file=path.name, rows_read=len(raw))
    line = pd.Series(raw.index.to_numpy() + 2, index=raw.index)  # header is line 1
    commune = raw["DEPCOM"].str.strip().str.upper()
    typequ = raw["TYPEQU"].str.strip().str.upper()
    an = pd.to_numeric(raw["AN"].str.strip(), errors="coerce")
    count = (
        pd.to_numeric(raw["NB_EQUIP"].str.strip(), errors="coerce")
        if "NB_EQUIP" in raw.columns
        else pd.Series(1.0, index=raw.index)
    )
    current = reference.current_commune_codes(commune)
    mapped = passage.drop_duplicates("code_insee").set_index("code_insee")["code_insee_2026"]
    current = current.where(current.isin(reference.commune_codes), current.map(mapped))
    checks: list[tuple[str, pd.Series, str]] = [
        ("DEPCOM", ~commune.str.match(COMMUNE_PATTERN), "not an INSEE commune code"),
        ("TYPEQU", ~typequ.str.match(TYPE_PATTERN), "not a BPE equipment type code"),
        ("AN", ~(an.between(1990, 2100) & (an == an.round())), "not a year"),
        ("NB_EQUIP", ~(count.notna() & (count >= 0)), "not a count (a non-negative number)"),
        ("DEPCOM", current.isna() | ~current.isin(reference.commune_codes), "unknown in COG 2026"),
    ]
    bad = pd.Series(False, index=raw.index)
    rejects = []
    for column, failed, reason in checks:
        new = failed & ~bad
        if new.any():
            rejects.append(
                pd.DataFrame({"file": path.name, "line": line[new], "field": column, "reason": reason})
            )
            report.reasons[f"{column}: {reason}"] = int(new.sum())
        bad |= failed
    kept_types = set(types["typequ"])
    wanted = ~bad & typequ.isin(kept_types)
    report.other_types = int((~bad & ~typequ.isin(kept_types)).sum())
    report.communes_remapped = int((wanted & (current != commune)).sum())
    rows = pd.DataFrame(
        {
            "year": an[wanted].astype(int),
            "commune_code": current[wanted].astype(str),
            "typequ": typequ[wanted],
            "count": count[wanted].astype(float),
        }
    )
    report.rows_kept = len(rows)
    counts = rows.groupby(["year", "commune_code", "typequ"], as_index=False)["count"].sum()
    report.years = sorted(int(y) for y in counts["year"].unique())
    quarantine = (
        pd.concat(rejects, ignore_index=True)
        if rejects
        else pd.DataFrame(columns=["file", "line", "field", "reason"])
    )
    return pd.DataFrame(counts, columns=list(COLUMNS)), quarantine, report


def ingest_bpe(
    path: Path,
    store_dir: Path,
    reference: Reference,
    passage: pd.DataFrame,
    types: pd.DataFrame,
    year: int | None = None,
) -> BpeReport:
    """Read a BPE file into `<store_dir>/competition.parquet`, replacing the years it holds; its quarantine
    goes to `<store_dir>/quarantine_bpe.csv`."""
    counts, quarantine, report = read_bpe(path, reference, passage, types, year)
    store_dir.mkdir(parents=True, exist_ok=True)
    target = store_dir / COMPETITION
    if target.exists():
        kept = pd.read_parquet(target)
        counts = pd.concat([kept[~kept["year"].isin(report.years)], counts], ignore_index=True)
    counts.sort_values(["year", "typequ", "commune_code"]).reset_index(drop=True).to_parquet(target)
    if len(quarantine):
        report.quarantine_path = store_dir / "quarantine_bpe.csv"
        quarantine.to_csv(report.quarantine_path, index=False)
    return report
