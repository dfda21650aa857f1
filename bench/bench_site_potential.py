"""Benchmark of the site-potential pipeline: SIRENE ingestion of a 10-million-row file (rows per second and
peak memory, next to pandas reading the same file in chunks), indicators for all communes of one activity,
and `diagnose` latency warm. Prints figures; asserts nothing.

Usage: python bench/bench_site_potential.py [--rows 10000000] [--workdir /tmp/cma_bench_site]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import machine, peak_rss_mb  # noqa: E402


def make_stock_file(path: Path, rows: int) -> None:
    """A SIRENE StockEtablissement-format CSV of `rows` rows (real communes and NAF codes), by DuckDB."""
    import duckdb

    from catalog.reference import load_reference

    reference = load_reference()
    con = duckdb.connect()
    con.register("communes", reference.populated_communes()[["commune_code"]])
    con.register("naf", reference.artisan_naf()[["naf_code"]])
    con.execute("CREATE TABLE c AS SELECT row_number() OVER () - 1 AS i, commune_code FROM communes")
    con.execute("CREATE TABLE n AS SELECT row_number() OVER () - 1 AS i, naf_code FROM naf")
    nc = con.execute("SELECT count(*) FROM c").fetchall()[0][0]
    nn = con.execute("SELECT count(*) FROM n").fetchall()[0][0]
    con.execute(
        f"""
        COPY (
            SELECT lpad(CAST(r AS VARCHAR), 9, '0') AS siren, '00010' AS nic,
                   lpad(CAST(r AS VARCHAR), 9, '0') || '00010' AS siret,
                   strftime(DATE '1990-01-01' + CAST(hash(r) % 12000 AS INTEGER), '%Y-%m-%d')
                       AS dateCreationEtablissement,
                   'NN' AS trancheEffectifsEtablissement, n.naf_code AS activitePrincipaleEtablissement,
                   'NAFRev2' AS nomenclatureActivitePrincipaleEtablissement,
                   c.commune_code AS codeCommuneEtablissement,
                   CASE WHEN hash(r * 7) % 3 = 0 THEN 'F' ELSE 'A' END AS etatAdministratifEtablissement
            FROM range({rows}) t(r)
            JOIN c ON c.i = hash(r * 13) % {nc}
            JOIN n ON n.i = hash(r * 17) % {nn}
        ) TO '{path}' (HEADER, DELIMITER ',')
        """
    )
    con.close()


def stage_ingest(path: str, out: str) -> dict[str, float]:
    from catalog.reference import load_passage
    from pipelines.ingest import ingest_sirene

    start = time.perf_counter()
    report = ingest_sirene(Path(out), load_passage(), stock=Path(path))
    seconds = time.perf_counter() - start
    rows = sum(report.rows_read.values())
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "peak_rss_mb": peak_rss_mb()}


def stage_pandas(path: str) -> dict[str, float]:
    import pandas as pd

    start = time.perf_counter()
    rows = 0
    cols = [
        "siret",
        "dateCreationEtablissement",
        "activitePrincipaleEtablissement",
        "codeCommuneEtablissement",
        "etatAdministratifEtablissement",
    ]
    for chunk in pd.read_csv(path, usecols=cols, dtype=str, chunksize=1_000_000):
        rows += len(chunk)
    seconds = time.perf_counter() - start
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "peak_rss_mb": peak_rss_mb()}


def stage_diagnose(home: str) -> dict[str, float]:
    os.environ["CMA_PREDICT_HOME"] = home
    from catalog.reference import load_reference, load_territory
    from catalog.site import load_store, site_dir
    from models.site_potential.diagnose import diagnose
    from models.site_potential.indicators import indicator_table
    from pipelines import site
    from pipelines.config import load_site_config
    from pipelines.tracking import configure_tracking

    configure_tracking()
    reference = load_reference()
    cfg = load_site_config(
        overrides=["simulation.creations_per_year=10000", "simulation.placement=population"]
    )
    out = site_dir(Path(home))
    site.prepare_sirene(cfg, reference, out)
    site.build_store(out, reference, cfg.extract_date())
    start = time.perf_counter()
    territory = load_territory(reference)
    territory_s = time.perf_counter() - start
    from pipelines.runner import train_model

    train_model("site_potential", cfg.model_copy(update={"store": out}), out)
    store = load_store(out, territory)
    models = site.load_survival_champions()
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        values, _refs = indicator_table(store, "96.02A")
        timings.append(time.perf_counter() - start)
    diagnose("96.02A", "69384", store, reference, models)
    latencies = []
    for commune in [
        "69384",
        "33063",
        "13055" if "13055" in territory.codes else "13201",
        "75056" if "75056" in territory.codes else "75101",
        "31555",
    ] * 20:
        start = time.perf_counter()
        diagnose("96.02A", commune, store, reference, models)
        latencies.append(time.perf_counter() - start)
    import numpy as np

    lat = np.array(latencies) * 1000
    return {
        "communes": float(len(values)),
        "territory_s": territory_s,
        "indicator_table_ms": float(np.median(timings) * 1000),
        "diagnose_p50_ms": float(np.percentile(lat, 50)),
        "diagnose_p99_ms": float(np.percentile(lat, 99)),
    }


def _run(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", choices=["ingest", "pandas", "diagnose"])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--path", default="")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    if args.stage == "ingest":
        print(json.dumps(stage_ingest(args.path, args.out)))
        return
    if args.stage == "pandas":
        print(json.dumps(stage_pandas(args.path)))
        return
    if args.stage == "diagnose":
        print(json.dumps(stage_diagnose(args.out)))
        return
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "StockEtablissement_bench.csv"
        start = time.perf_counter()
        make_stock_file(path, args.rows)
        size = path.stat().st_size / 2**20
        print(f"file: {args.rows:,} rows, {size:,.0f} MiB, written in {time.perf_counter() - start:.1f} s")
        ing = _run("--stage", "ingest", "--path", str(path), "--out", str(Path(tmp) / "out"))
        print(
            f"ingest (DuckDB, streamed): {ing['rows']:,.0f} rows in {ing['seconds']:.1f} s = "
            f"{ing['rows_per_s']:,.0f} rows/s, peak RSS {ing['peak_rss_mb']:,.0f} MB"
        )
        ref = _run("--stage", "pandas", "--path", str(path))
        print(
            f"reference, pandas read_csv in 1M-row chunks (read only, no checks): {ref['rows_per_s']:,.0f} "
            f"rows/s, peak RSS {ref['peak_rss_mb']:,.0f} MB"
        )
        diag = _run("--stage", "diagnose", "--out", str(Path(tmp) / "home"))
        print(
            f"indicators for all {diag['communes']:,.0f} communes of one activity: "
            f"{diag['indicator_table_ms']:.0f} ms (territory load once: {diag['territory_s']:.1f} s)"
        )
        print(f"diagnose warm: p50 {diag['diagnose_p50_ms']:.1f} ms, p99 {diag['diagnose_p99_ms']:.1f} ms")


if __name__ == "__main__":
    main()
