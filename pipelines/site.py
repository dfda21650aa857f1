"""The site-potential jobs: ingest SIRENE (or simulate it), build the territorial store, train and register
the survival models, and load what a diagnostic needs."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PyFuncModel

from models.evaluation import evaluate_against_oracle
from models.reference import Reference
from models.simulation.sirene import simulate_sirene
from models.site_potential import SURVIVAL_MODELS
from models.site_potential.indicators import SiteStore
from models.site_potential.pyfunc import SurvivalPyfuncModel
from models.site_potential.survival import (
    INPUT_COLUMNS,
    SurvivalFeatureBuilder,
    SurvivalModel,
    fit_survival_model,
    label_name,
    sector_of_section,
    split_by_creation_year,
    survival_dataset,
)
from models.site_potential.territory import Territory, build_territory
from pipelines.config import SitePipelineConfig
from pipelines.ingest import IngestReport, ingest_sirene
from pipelines.io import write_table
from pipelines.mlflow_logging import (
    TrainResult,
    fit_metrics,
    fit_note,
    log_config_and_splits,
    log_evaluation_plots,
    log_model_with_card,
    log_test_metrics,
    register_logged_model,
)
from pipelines.reference import REFERENCE_DIR
from pipelines.tracking import ensure_experiment

logger = logging.getLogger(__name__)
MIN_SECTION_ROWS = 2000  # sections smaller than this have a sampling error above 1 point


def site_dir(home: Path) -> Path:
    """Where the SIRENE store of the diagnostic lives."""
    return home / "data" / "site_potential"


def load_passage() -> pd.DataFrame:
    """Former -> current (COG 2026) commune codes."""
    return pd.read_csv(REFERENCE_DIR / "communes_passage_2026.csv.gz", dtype=str, keep_default_na=False)


def load_territory(reference: Reference) -> Territory:
    """Communes, their INSEE statistics and their 10/20 km neighbourhoods."""
    stats = pd.read_csv(REFERENCE_DIR / "communes_stats_2021.csv.gz", dtype=str, keep_default_na=False)
    return build_territory(reference, stats)


def prepare_sirene(
    config: SitePipelineConfig, reference: Reference, out: Path
) -> tuple[IngestReport, pd.DataFrame | None]:
    """Ingest the configured SIRENE files, or simulate them (SYNTHETIC) first; returns the report and the
    simulator's oracle when simulated."""
    oracle = None
    stock, history = config.data.stock, config.data.history
    if config.data.source == "simulate":
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
                       AS closed_12m
            FROM {est} WHERE naf_code IS NOT NULL GROUP BY ALL
        ) TO '{out / "activity_commune.parquet"}' (FORMAT parquet)
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
        ) TO '{out / "activity_survival.parquet"}' (FORMAT parquet)
        """
    )
    con.close()
    (out / "store.json").write_text(
        json.dumps({"reference_date": reference_date.isoformat(), "synthetic": synthetic}), encoding="utf-8"
    )


def load_store(out: Path, territory: Territory) -> SiteStore:
    """The diagnostic's store, as built by `build_store`."""
    meta = json.loads((out / "store.json").read_text(encoding="utf-8"))
    return SiteStore(
        territory=territory,
        activity_commune=pd.read_parquet(out / "activity_commune.parquet"),
        activity_survival=pd.read_parquet(out / "activity_survival.parquet"),
        reference_date=date.fromisoformat(meta["reference_date"]),
        synthetic=bool(meta.get("synthetic", False)),
    )


@dataclass(frozen=True)
class SiteTraining:
    """What training the site models produced, horizon by horizon."""

    results: dict[int, TrainResult]
    by_section: dict[int, pd.DataFrame]


def observed_by_section(
    test: pd.DataFrame, scores: np.ndarray, label: str, reference: Reference
) -> pd.DataFrame:
    """Mean predicted vs observed survival per NAF section on the test cohort."""
    section = test["naf_code"].map(reference.naf.set_index("naf_code")["section"])
    frame = pd.DataFrame({"section": section, "predicted": scores, "observed": test[label].to_numpy()})
    out = frame.groupby("section").agg(
        n=("observed", "size"), predicted=("predicted", "mean"), observed=("observed", "mean")
    )
    out["gap_points"] = (out["predicted"] - out["observed"]) * 100
    out["sector"] = sector_of_section(out.index.to_series())
    return out.reset_index()


def train_site_models(
    establishments: pd.DataFrame,
    oracle: pd.DataFrame | None,
    territory: Territory,
    reference: Reference,
    config: SitePipelineConfig,
) -> SiteTraining:
    """Train, evaluate (oracle, observed rates by section), log and register one model per horizon."""
    builder = SurvivalFeatureBuilder(reference, territory)
    results: dict[int, TrainResult] = {}
    sections: dict[int, pd.DataFrame] = {}
    experiment_id = ensure_experiment(config.experiment)
    for horizon in config.horizons:
        name = config.model_name(horizon)
        label = label_name(horizon)
        dataset = survival_dataset(establishments, horizon, config.extract_date(), config.first_creation_year)
        if oracle is not None:
            dataset = dataset.merge(oracle[["siret", f"oracle_survival_{horizon}y"]], on="siret", how="left")
        train, valid, test = split_by_creation_year(dataset)
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
            mlflow.set_tags({"model": name, "data_source": config.data.source, "horizon": str(horizon)})
            log_config_and_splits(
                config.model_dump(mode="json"),
                {"train": train, "validation": valid, "test": test},
                label,
                name,
            )
            model, info = fit_survival_model(
                train, valid, horizon, builder, config.lightgbm, config.calibration
            )
            scores = model.predict_proba(test)
            oracle_col = f"oracle_survival_{horizon}y"
            best = (
                test[oracle_col].to_numpy() if oracle_col in test and test[oracle_col].notna().all() else None
            )
            metrics = evaluate_against_oracle(test[label].to_numpy(), scores, best)
            by_section = observed_by_section(test, scores, label, reference)
            metrics["max_section_gap_points"] = float(
                by_section.loc[by_section["n"] >= MIN_SECTION_ROWS, "gap_points"].abs().max()
            )
            log_test_metrics(metrics)
            mlflow.log_metrics(fit_metrics(info))
            log_evaluation_plots(test[label].to_numpy(), scores, best, model.feature_importance())
            mlflow.log_table(by_section, "evaluation/by_section.json")
            card = _card(
                name, horizon, metrics, by_section, config, len(train), len(test), info, run.info.run_id
            )
            example = test[list(INPUT_COLUMNS)].head(5).reset_index(drop=True)
            logged = log_model_with_card(SurvivalPyfuncModel(model), example, card)

            def score_champion(champion: PyFuncModel, rows: pd.DataFrame = test, y: str = label) -> float:
                out = pd.DataFrame(champion.predict(rows[list(INPUT_COLUMNS)]))["survival_probability"]
                return evaluate_against_oracle(rows[y].to_numpy(), out.to_numpy(), None)["roc_auc"]

            results[horizon] = register_logged_model(
                run.info.run_id, logged, info, metrics, name, "roc_auc", score_champion, card
            )
        sections[horizon] = by_section
    return SiteTraining(results=results, by_section=sections)


def _card(
    name: str,
    horizon: int,
    metrics: dict[str, float],
    by_section: pd.DataFrame,
    config: SitePipelineConfig,
    n_train: int,
    n_test: int,
    info: object,
    run_id: str,
) -> str:
    from models.model_card import metrics_table

    rows = "\n".join(
        f"| {r.section} | {r.sector} | {r.n:,} | {r.predicted:.3f} | {r.observed:.3f} | {r.gap_points:+.1f} |"
        for r in by_section.itertuples(index=False)
    )
    source = (
        "SYNTHETIC SIRENE-format establishments from the simulator (data_samples/site_potential/DATASHEET.md)"
        if config.data.source == "simulate"
        else f"SIRENE files {config.data.stock} {config.data.history}"
    )
    return f"""# Model card: {name}

MLflow run `{run_id}`.

## Intended use
Probability that a new establishment of a given activity (NAF code) created in a given commune is still
active {horizon} years after its creation, for the « Diag Flash » of a business project: an indication for
the advisor and the craftsman, next to the territorial indicators; never a decision to support or not.

## Data
{source}; extract date {config.extract_date()}. Only creations whose {horizon}-year horizon is observed are
used (right-censored ones are left out). Time split by creation year: {n_train:,} training establishments,
test on the last observed cohort ({n_test:,}). {fit_note(info)}

## Evaluation
{metrics_table(metrics)}

Mean predicted vs observed survival by NAF section (test cohort):

| section | INSEE sector | n | predicted | observed | gap (points) |
|---|---|---|---|---|---|
{rows}

## Limits
- Features are those known at creation (activity, commune, territory, competition, year); the project's
  own qualities (funding, experience, legal form) are not in SIRENE and not in the model.
- Real SIRENE files give the current headcount band and activity: they are not used as creation-time
  features, to avoid learning from the future.
"""


def load_survival_models() -> dict[int, SurvivalModel]:
    """The champion survival models, unwrapped (for predictions and contributions)."""
    out = {}
    for horizon, name in SURVIVAL_MODELS.items():
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        out[horizon] = pyfunc.unwrap_python_model().model
    return out
