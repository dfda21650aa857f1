"""The site-potential jobs: ingest SIRENE (or simulate it) and BPE, build the territorial store (the step
before the runner trains the survival models, `prepare_site`), and load the survival champions a diagnostic
needs."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import duckdb
import mlflow
import pandas as pd

from catalog.reference import BPE_SAMPLE, load_bpe_types, load_passage
from catalog.reference import load_territory as load_territory  # re-exported for the CLI's training
from catalog.site import ACTIVITY_COMMUNE, ACTIVITY_SURVIVAL, COMPETITION, STORE_META
from catalog.site import site_dir as site_dir  # re-exported for the CLI's training and ingestion
from models.reference import Reference
from models.simulation.sirene import simulate_sirene
from models.site_potential import survival_model_names
from models.site_potential.config import SitePipelineConfig
from models.site_potential.indicators import CHANGE_YEARS
from models.site_potential.survival import (
    SurvivalModel,
)
from pipelines.bpe import BpeReport, ingest_bpe, read_bpe
from pipelines.ingest import IngestReport, ingest_sirene
from pipelines.io import write_table

logger = logging.getLogger(__name__)


def prepare_sirene(
    config: SitePipelineConfig, reference: Reference, out: Path
) -> tuple[IngestReport, pd.DataFrame | None]:
    """Ingest the configured SIRENE files, or simulate them (SYNTHETIC) first; returns the report and the
    simulator's oracle when simulated. Placement 'bpe' places the simulated establishments on the store's
    BPE counts (`prepare_bpe`), else on the shipped ones."""
    oracle = None
    stock, history = config.data.stock, config.data.history
    if config.data.source == "simulate":
        if config.simulation.placement == "bpe":
            types = load_bpe_types()
            store_counts = out / COMPETITION
            counts = (
                pd.read_parquet(store_counts)
                if store_counts.exists()
                else read_bpe(BPE_SAMPLE, reference, load_passage(), types)[0]
            )
            sim = simulate_sirene(reference, config.simulation, counts, types)
        else:
            sim = simulate_sirene(reference, config.simulation)
        raw = out / "raw"
        stock = write_table(sim.stock, raw / "StockEtablissement_simule.csv")
        history = write_table(sim.history, raw / "StockEtablissementHistorique_simule.csv")
        oracle = sim.oracle
        write_table(oracle, out / "oracle.parquet")
    report = ingest_sirene(out, load_passage(), stock=stock, history=history)
    return report, oracle


def build_store(out: Path, reference: Reference, reference_date: date, synthetic: bool = False) -> None:
    """Aggregate the establishments into the store of the diagnostic (DuckDB, streamed from Parquet);
    `synthetic` records that the establishments come from the simulator (reports say so)."""
    con = duckdb.connect()
    con.register("communes_df", reference.communes[["commune_code", "departement_code"]])
    est = "read_parquet('" + str(out / "establishments.parquet").replace("'", "''") + "')"
    ref = f"DATE '{reference_date.isoformat()}'"
    before = f"({ref} - INTERVAL {CHANGE_YEARS} YEAR)"
    con.execute(
        f"""
        COPY (
            SELECT naf_code, commune_code,
                   count(*) FILTER (WHERE creation_date < {ref}
                                    AND (closure_date IS NULL OR closure_date >= {ref})
                                    AND NOT coalesce(closed_without_date, FALSE)) AS active,
                   count(*) FILTER (WHERE creation_date >= {ref} - INTERVAL 1 YEAR AND creation_date < {ref})
                       AS created_12m,
                   count(*) FILTER (WHERE closure_date >= {ref} - INTERVAL 1 YEAR AND closure_date < {ref})
                       AS closed_12m,
                   count(*) FILTER (WHERE creation_date < {before}
                                    AND (closure_date IS NULL OR closure_date >= {before})
                                    AND NOT coalesce(closed_without_date, FALSE)) AS active_before
            FROM {est} WHERE naf_code IS NOT NULL GROUP BY ALL
        ) TO '{out / ACTIVITY_COMMUNE}' (FORMAT parquet)
        """
    )
    con.execute(
        f"""
        COPY (
            SELECT e.naf_code, c.departement_code,
                   count(*) FILTER (WHERE e.creation_date >= {ref} - INTERVAL 8 YEAR
                                    AND e.creation_date < {ref} - INTERVAL 3 YEAR) AS cohort_3y,
                   count(*) FILTER (WHERE e.creation_date >= {ref} - INTERVAL 8 YEAR
                                    AND e.creation_date < {ref} - INTERVAL 3 YEAR
                                    AND (e.closure_date IS NULL OR e.closure_date >= e.creation_date + INTERVAL 3 YEAR))
                       AS survived_3y,
                   count(*) FILTER (WHERE e.creation_date >= {ref} - INTERVAL 10 YEAR
                                    AND e.creation_date < {ref} - INTERVAL 5 YEAR) AS cohort_5y,
                   count(*) FILTER (WHERE e.creation_date >= {ref} - INTERVAL 10 YEAR
                                    AND e.creation_date < {ref} - INTERVAL 5 YEAR
                                    AND (e.closure_date IS NULL OR e.closure_date >= e.creation_date + INTERVAL 5 YEAR))
                       AS survived_5y
            FROM {est} e JOIN communes_df c USING (commune_code)
            WHERE e.naf_code IS NOT NULL AND NOT coalesce(e.closed_without_date, FALSE)
            GROUP BY ALL
        ) TO '{out / ACTIVITY_SURVIVAL}' (FORMAT parquet)
        """
    )
    con.close()
    (out / STORE_META).write_text(
        json.dumps({"reference_date": reference_date.isoformat(), "synthetic": synthetic}), encoding="utf-8"
    )


def load_survival_champions(suffix: str = "") -> dict[int, SurvivalModel]:
    """The champion survival models registered with `suffix` (`site_survival_3y_lyon4e` for `_lyon4e`, the
    pipeline's `model_suffix`), unwrapped (for predictions and contributions)."""
    out = {}
    for horizon, name in survival_model_names(suffix).items():
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        out[horizon] = pyfunc.unwrap_python_model().model
    return out


def prepare_site(
    config: SitePipelineConfig, reference: Reference, home: Path
) -> tuple[SitePipelineConfig, str]:
    """The step before training the survival models: ingest (or simulate) SIRENE into `<home>`'s store and
    aggregate it; returns the config pointing at the store, and the ingestion summary."""
    out = site_dir(home)
    bpe = prepare_bpe(out, reference)
    report, _ = prepare_sirene(config, reference, out)
    build_store(out, reference, config.extract_date(), synthetic=config.data.source == "simulate")
    return config.model_copy(update={"store": out}), report.summary() + "\n" + bpe.summary()


def prepare_bpe(out: Path, reference: Reference) -> BpeReport:
    """The shipped BPE 2009 and 2013 counts into the store (a newer BPE year ingested with
    `cma-predict ingest-bpe` is kept)."""
    return ingest_bpe(BPE_SAMPLE, out, reference, load_passage(), load_bpe_types())
