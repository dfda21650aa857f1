"""Ingest SIRENE establishment files (StockEtablissement, StockEtablissementHistorique) into Parquet.

Files of any size, CSV (any separator, gzip or not) or Parquet, are streamed by DuckDB with column
projection; nothing is loaded whole into pandas. Structurally malformed lines (wrong number of fields,
broken quoting) and rows with an invalid SIRET or date are quarantined with their line number and reason.
Former commune codes are mapped to COG 2026 codes.

The activity of an establishment (`naf_code`) is its operating activity: the first NAF rev.2 code of its
periods (NAF rev.1 codes, before 2008, are not kept) that is not 70.10Z « Activités des sièges sociaux ».
Many establishments are registered first with 70.10Z and take their trade's code a few months later (in
Lyon 4e, 336 establishments, a median of 2 months later; 59 of the 262 restaurants 56.10A were classed
70.10Z by their first code); 70.10Z stays the activity only of an establishment that never had another
rev.2 code. With a stock file, its current activity stands in when the periods give no operating code.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from models.contracts import ContractError

logger = logging.getLogger(__name__)

STOCK_REQUIRED = (
    "siret",
    "dateCreationEtablissement",
    "activitePrincipaleEtablissement",
    "codeCommuneEtablissement",
    "etatAdministratifEtablissement",
)
STOCK_OPTIONAL = (
    "trancheEffectifsEtablissement",
    "nomenclatureActivitePrincipaleEtablissement",
    "dateDebut",  # start of the current period: a closed establishment's closure date
)
HISTORY_REQUIRED = ("siret", "dateDebut", "etatAdministratifEtablissement")
HISTORY_OPTIONAL = (
    "dateFin",
    "activitePrincipaleEtablissement",
    "nomenclatureActivitePrincipaleEtablissement",
    "codeCommuneEtablissement",
    "trancheEffectifsEtablissement",
)
NAF_REV2 = r"^[0-9]{2}\.[0-9]{2}[A-Z]$"
HEAD_OFFICE_NAF = "70.10Z"  # « Activités des sièges sociaux »: the activity only when there is no other one
PLACEHOLDER_DATES = ("1900-01-01",)


@dataclass
class IngestReport:
    """What ingestion read, kept and quarantined, file by file."""

    rows_read: dict[str, int] = field(default_factory=dict)
    rows_quarantined: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    establishments: int = 0
    communes_remapped: int = 0
    seconds: float = 0.0
    quarantine_path: Path | None = None

    def summary(self) -> str:
        """Counts in a few lines."""
        lines = [f"{self.establishments:,} establishments written in {self.seconds:.1f} s"]
        for name, n in self.rows_read.items():
            lines.append(f"  {name}: {n:,} rows read, {self.rows_quarantined.get(name, 0):,} quarantined")
        for reason, n in sorted(self.reasons.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {n:,} x {reason}")
        if self.communes_remapped:
            lines.append(f"  {self.communes_remapped:,} former commune codes mapped to COG 2026")
        if self.quarantine_path:
            lines.append(f"  quarantine: {self.quarantine_path}")
        return "\n".join(lines)


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _source(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> tuple[str, bool]:
    """SQL table expression reading `path` (all columns as text), and whether it tracks rejects."""
    if not path.exists():
        raise ContractError(str(path), "file not found")
    if path.suffix == ".parquet":
        return f"read_parquet({_q(path)})", False
    return (
        f"read_csv({_q(path)}, header=true, all_varchar=true, auto_detect=true, "
        f"store_rejects=true, rejects_table='rejects_{name}', rejects_scan='scan_{name}')",
        True,
    )


def _columns(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]


def _select(columns: list[str], required: tuple[str, ...], optional: tuple[str, ...], path: Path) -> str:
    missing = [c for c in required if c not in columns]
    if missing:
        raise ContractError(
            str(path),
            f"missing SIRENE column(s) {', '.join(missing)} (expected the official names: {', '.join(required)})",
        )
    parts = [f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in required]
    parts += [
        f'CAST("{c}" AS VARCHAR) AS "{c}"' if c in columns else f'NULL::VARCHAR AS "{c}"' for c in optional
    ]
    return ", ".join(parts)


def _stage(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    name: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    date_columns: tuple[str, ...],
    report: IngestReport,
) -> np.ndarray:
    """Read one file into table `name` (valid rows) and `bad_<name>` (invalid values, with reasons); the
    lines of the rows its CSV reader rejected (to turn a row's rank into its line)."""
    source, tracks_rejects = _source(con, path, name)
    projection = _select(_columns(con, source), required, optional, path)
    con.execute(
        f"CREATE TEMP TABLE raw_{name} AS SELECT row_number() OVER () AS rownum, {projection} FROM {source}"
    )
    checks = [("NOT regexp_full_match(coalesce(siret, ''), '[0-9]{14}')", "siret is not 14 digits")]
    for column in date_columns:
        checks.append(
            (
                f'"{column}" IS NOT NULL AND "{column}" <> \'\' '
                f"AND try_strptime(\"{column}\", '%Y-%m-%d') IS NULL",
                f"{column} is not a date (YYYY-MM-DD)",
            )
        )
    reason = "CASE " + " ".join(f"WHEN {cond} THEN '{why}'" for cond, why in checks) + " END"
    con.execute(f"CREATE TEMP TABLE checked_{name} AS SELECT *, {reason} AS reason FROM raw_{name}")
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT * EXCLUDE (reason) FROM checked_{name} WHERE reason IS NULL"
    )
    rejects = pd.DataFrame(columns=["line", "reason"])
    if tracks_rejects:
        rejects = con.execute(
            f"SELECT line, first(error_type || ': ' || error_message) AS reason FROM rejects_{name} "
            "GROUP BY line ORDER BY line"
        ).df()
    bad = con.execute(f"SELECT rownum, siret, reason FROM checked_{name} WHERE reason IS NOT NULL").df()
    reject_lines = rejects["line"].to_numpy()
    if len(bad):
        bad = bad.assign(line=_lines(bad["rownum"].to_numpy(), reject_lines))
    quarantined = pd.concat(
        [rejects.assign(file=path.name), bad[["line", "reason"]].assign(file=path.name) if len(bad) else None]
    )
    total = con.execute(f"SELECT count(*) FROM raw_{name}").fetchall()[0][0]
    report.rows_read[path.name] = int(total) + len(rejects)
    report.rows_quarantined[path.name] = len(quarantined)
    for why, count in quarantined["reason"].str.split(":").str[0].value_counts().items():
        report.reasons[f"{path.name}: {why}"] = int(count)
    con.register(f"quarantine_{name}", quarantined[["file", "line", "reason"]].reset_index(drop=True))
    con.execute(f"DROP TABLE raw_{name}")
    con.execute(f"DROP TABLE checked_{name}")
    return reject_lines


def _lines(rownums: np.ndarray, reject_lines: np.ndarray) -> list[int]:
    """The file line of parsed rows: their rank + 1 (the header) + the rejected lines before them."""
    lines = []
    for rownum in rownums:
        line = int(rownum) + 1
        for rejected in reject_lines:
            if rejected <= line:
                line += 1
        lines.append(line)
    return lines


def ingest_sirene(
    out_dir: Path,
    passage: pd.DataFrame,
    stock: Path | None = None,
    history: Path | None = None,
    memory_limit: str = "1GB",
) -> IngestReport:
    """Ingest SIRENE files into `out_dir/establishments.parquet` (one row per establishment).

    Columns: siret, creation_date (dateCreationEtablissement, else the first real dateDebut),
    closure_date (start of the first closed period), naf_code (the first NAF rev.2 activity other than 70.10Z
    head office, else 70.10Z; see the module docstring),
    commune_code (COG 2026), headcount_band. `passage` maps former commune codes (`code_insee`) to
    current ones (`code_insee_2026`).
    """
    if stock is None and history is None:
        raise ValueError("give a StockEtablissement file, a StockEtablissementHistorique file, or both")
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    report = IngestReport()
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = true")
    con.register("passage_df", passage[["code_insee", "code_insee_2026"]])
    # A former code may map to several current ones (split communes): keep the code itself when it is
    # still current, else the smallest current code, so that every establishment keeps one row.
    con.execute(
        """
        CREATE TEMP TABLE passage AS
        SELECT code_insee,
               CASE WHEN bool_or(code_insee = code_insee_2026) THEN code_insee ELSE min(code_insee_2026) END
                   AS code_insee_2026
        FROM passage_df GROUP BY code_insee
        """
    )
    quarantines = []
    stock_rejects = np.array([], dtype=np.int64)
    if stock is not None:
        stock_rejects = _stage(
            con, stock, "stock", STOCK_REQUIRED, STOCK_OPTIONAL, ("dateCreationEtablissement",), report
        )
        quarantines.append("quarantine_stock")
    if history is not None:
        _stage(con, history, "history", HISTORY_REQUIRED, HISTORY_OPTIONAL, ("dateDebut", "dateFin"), report)
        quarantines.append("quarantine_history")

    placeholder = ", ".join(f"'{d}'" for d in PLACEHOLDER_DATES)
    if history is not None:
        con.execute(
            f"""
            CREATE TEMP TABLE hist AS
            SELECT siret,
                   min(strptime(dateDebut, '%Y-%m-%d')::DATE)
                       FILTER (WHERE dateDebut NOT IN ({placeholder})) AS first_start,
                   min(strptime(dateDebut, '%Y-%m-%d')::DATE)
                       FILTER (WHERE etatAdministratifEtablissement = 'F') AS closure_date,
                   arg_min(activitePrincipaleEtablissement, dateDebut)
                       FILTER (WHERE regexp_full_match(coalesce(activitePrincipaleEtablissement, ''), '{NAF_REV2}')
                               AND activitePrincipaleEtablissement <> '{HEAD_OFFICE_NAF}') AS operating_naf,
                   arg_min(activitePrincipaleEtablissement, dateDebut)
                       FILTER (WHERE regexp_full_match(coalesce(activitePrincipaleEtablissement, ''), '{NAF_REV2}'))
                       AS first_naf,
                   arg_max(codeCommuneEtablissement, dateDebut) AS hist_commune,
                   arg_max(trancheEffectifsEtablissement, dateDebut) AS hist_band
            FROM history GROUP BY siret
            """
        )
    if stock is not None and history is not None:
        base = """
            SELECT s.siret, s.rownum,
                   coalesce(strptime(s.dateCreationEtablissement, '%Y-%m-%d')::DATE, h.first_start) AS creation_date,
                   s.dateCreationEtablissement IS NULL AND h.first_start IS NOT NULL AS dated_from_periods,
                   coalesce(h.closure_date,
                            CASE WHEN s.etatAdministratifEtablissement = 'F'
                                 THEN try_strptime(s.dateDebut, '%Y-%m-%d')::DATE END) AS closure_date,
                   coalesce(h.operating_naf,
                            CASE WHEN regexp_full_match(s.activitePrincipaleEtablissement, '%NAF%')
                                      AND s.activitePrincipaleEtablissement <> '%HEAD_OFFICE%'
                                 THEN s.activitePrincipaleEtablissement END,
                            h.first_naf,
                            CASE WHEN regexp_full_match(s.activitePrincipaleEtablissement, '%NAF%')
                                 THEN s.activitePrincipaleEtablissement END) AS naf_code,
                   coalesce(s.codeCommuneEtablissement, h.hist_commune) AS commune_raw,
                   coalesce(s.trancheEffectifsEtablissement, h.hist_band) AS headcount_band,
                   s.etatAdministratifEtablissement = 'F' AND h.closure_date IS NULL
                       AND try_strptime(s.dateDebut, '%Y-%m-%d') IS NULL AS closed_without_date
            FROM stock s LEFT JOIN hist h USING (siret)
        """.replace("%NAF%", NAF_REV2).replace("%HEAD_OFFICE%", HEAD_OFFICE_NAF)
    elif stock is not None:
        base = """
            SELECT siret, rownum, strptime(dateCreationEtablissement, '%Y-%m-%d')::DATE AS creation_date,
                   FALSE AS dated_from_periods,
                   -- A closed establishment of a stock file: closed on the first day of its current period.
                   CASE WHEN etatAdministratifEtablissement = 'F'
                        THEN try_strptime(dateDebut, '%Y-%m-%d')::DATE END AS closure_date,
                   CASE WHEN regexp_full_match(activitePrincipaleEtablissement, '%NAF%')
                        THEN activitePrincipaleEtablissement END AS naf_code,
                   codeCommuneEtablissement AS commune_raw, trancheEffectifsEtablissement AS headcount_band,
                   etatAdministratifEtablissement = 'F' AND try_strptime(dateDebut, '%Y-%m-%d') IS NULL
                       AS closed_without_date
            FROM stock
        """.replace("%NAF%", NAF_REV2)
    else:
        base = """
            SELECT siret, NULL::BIGINT AS rownum, first_start AS creation_date, FALSE AS dated_from_periods,
                   closure_date, coalesce(operating_naf, first_naf) AS naf_code,
                   hist_commune AS commune_raw, hist_band AS headcount_band, FALSE AS closed_without_date
            FROM hist
        """
    con.execute(f"CREATE TEMP TABLE base AS {base}")
    # Never a silent drop: a row that cannot be dated (no creation date, no period to date it from) is
    # quarantined at its line; a row dated from its first period is counted.
    undated = con.execute("SELECT rownum FROM base WHERE creation_date IS NULL AND rownum IS NOT NULL").df()
    if stock is not None and len(undated):
        reason = "no dateCreationEtablissement and no period to date it from"
        lines = _lines(undated["rownum"].to_numpy(), stock_rejects)
        con.register(
            "quarantine_undated", pd.DataFrame({"file": stock.name, "line": lines, "reason": reason})
        )
        quarantines.append("quarantine_undated")
        report.rows_quarantined[stock.name] = report.rows_quarantined.get(stock.name, 0) + len(lines)
        report.reasons[f"{stock.name}: {reason}"] = len(lines)
    dated = int(con.execute("SELECT count(*) FROM base WHERE dated_from_periods").fetchall()[0][0])
    if stock is not None and dated:
        report.reasons[f"{stock.name}: no dateCreationEtablissement, dated from its first period (kept)"] = (
            dated
        )
    target = out_dir / "establishments.parquet"
    con.execute(
        f"""
        COPY (
            SELECT b.siret, CAST(b.creation_date AS TIMESTAMP) AS creation_date,
                   CAST(b.closure_date AS TIMESTAMP) AS closure_date, b.closed_without_date, b.naf_code,
                   coalesce(p.code_insee_2026, b.commune_raw) AS commune_code,
                   p.code_insee_2026 IS NOT NULL AND p.code_insee_2026 <> b.commune_raw AS commune_remapped,
                   b.headcount_band
            FROM base b LEFT JOIN passage p ON p.code_insee = b.commune_raw
            WHERE b.creation_date IS NOT NULL
        ) TO {_q(target)} (FORMAT parquet)
        """
    )
    counts = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE commune_remapped) FROM read_parquet({_q(target)})"
    ).fetchall()[0]
    report.establishments, report.communes_remapped = int(counts[0]), int(counts[1])
    quarantine = pd.concat([con.execute(f"SELECT * FROM {q}").df() for q in quarantines], ignore_index=True)
    if len(quarantine):
        report.quarantine_path = out_dir / "quarantine.csv"
        quarantine.astype({"line": "int64"}).to_csv(report.quarantine_path, index=False)
    con.close()
    report.seconds = time.perf_counter() - start
    logger.info(report.summary())
    return report
