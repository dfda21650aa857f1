"""The one training runner: for every job of a model family, split, fit, evaluate, log to MLflow, register
and promote. It knows no model by name: each family says what differs (`models.interface`).

Families are listed once in `pipelines/configs/families.yaml` (name -> the module holding `FAMILY`);
adding a model is a package implementing the interface plus one line there.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow.pyfunc import PyFuncModel

from models.contracts import TableContract, ValidationReport
from models.gates import DegenerateTraining, PublicationGates, check_evaluation, check_split
from models.interface import Evaluation, ModelFamily, ScoringModel, TrainingJob
from models.pyfunc import ScoringPyfunc
from models.reference import Reference
from models.search import searched_job
from models.site_potential.territory import Territory
from pipelines.config import CONFIG_DIR, default_config_path, load_config
from pipelines.io import read_raw_table, read_validated
from pipelines.mlflow_logging import (
    TrainResult,
    fit_metrics,
    log_config_and_splits,
    log_evaluation_plots,
    log_model_with_card,
    log_search,
    log_test_metrics,
    register_logged_model,
)
from pipelines.reference import load_reference
from pipelines.registry import (
    CHALLENGER_ALIAS,
    PromotionDecision,
    Publication,
    current_champion,
    promote_challenger,
)
from pipelines.tracking import ensure_experiment

logger = logging.getLogger(__name__)
FAMILIES_FILE = CONFIG_DIR / "families.yaml"
PROFILE_ARTIFACT = "monitoring/reference_profile.json"
"""The run artifact holding the reference profile its model carries (`ScoringPyfunc.reference_profile`)."""


def _families() -> dict[str, dict[str, str]]:
    """Family name -> {module, prepare?}, from `CMA_FAMILIES` (a YAML file) or the families file."""
    path = Path(os.environ.get("CMA_FAMILIES", FAMILIES_FILE))
    listed: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        str(k): {"module": v} if isinstance(v, str) else {a: str(b) for a, b in v.items()}
        for k, v in listed.items()
    }


def run_families() -> list[str]:
    """The families `cma-predict run` trains when they lack a champion (all but those marked `run: false`)."""
    return [name for name, entry in _families().items() if str(entry.get("run", True)).lower() != "false"]


def family_modules() -> dict[str, str]:
    """Family name -> the module holding its `FAMILY`."""
    return {name: entry["module"] for name, entry in _families().items()}


Prepare = Callable[[Any, Reference, Path], tuple[Any, str]]


def preparation(name: str) -> Prepare | None:
    """The pipeline step a family needs before training, if any (`prepare: module:function` in the
    families file, e.g. the SIRENE ingestion of the site models): (config, reference, home) -> (config
    ready to train, a summary to print)."""
    target = _families().get(name, {}).get("prepare")
    if target is None:
        return None
    module, _, function = target.partition(":")
    step: Prepare = getattr(importlib.import_module(module), function)
    return step


def family(name: str) -> ModelFamily:
    """The family called `name` (ValueError naming the known ones otherwise)."""
    modules = family_modules()
    if name not in modules:
        raise ValueError(f"unknown model '{name}' (known: {', '.join(modules)})")
    found: ModelFamily = importlib.import_module(modules[name]).FAMILY
    return found


@dataclass
class PipelineData:
    """The `DataAccess` of the jobs: reference data, files read by the one reading rule under their
    contracts, invalid rows quarantined in `quarantine_dir`."""

    quarantine_dir: Path
    reports: list[ValidationReport]

    @property
    def reference(self) -> Reference:
        """COG communes and NAF sub-classes (read once per process)."""
        return load_reference()

    def territory(self) -> Territory:
        """Communes with their statistics and neighbourhoods."""
        return self._territory

    @cached_property
    def _territory(self) -> Territory:
        from pipelines.site import load_territory

        return load_territory(self.reference)

    def read_validated(self, path: Path, contract: TableContract) -> tuple[pd.DataFrame, ValidationReport]:
        """A chamber file under its contract, in the contract's own layout or in a national format (an RNE
        file for companies, a DECA file for contracts: read by its reader, `pipelines.importer`); the report
        is kept for the command's summary."""
        from pipelines.importer import read_contract_file

        national = read_contract_file(path, contract, self.reference, self.quarantine_dir)
        frame, report = (
            national
            if national is not None
            else read_validated(path, contract, self.reference, self.quarantine_dir)
        )
        self.reports.append(report)
        return frame, report

    def read_text_table(self, path: Path) -> pd.DataFrame:
        """Every column as text."""
        return read_raw_table(path)

    def read_table(self, path: Path) -> pd.DataFrame:
        """A generated Parquet, CSV or `.xlsx` table."""
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_excel(path) if path.suffix == ".xlsx" else pd.read_csv(path)


def pipeline_data(quarantine_dir: Path) -> PipelineData:
    """The data access of one command."""
    return PipelineData(quarantine_dir, [])


def train_job(job: TrainingJob, config: Any, challenger: bool = False) -> TrainResult:
    """Split, search the booster parameters if the config asks, fit, evaluate, log (config, splits, search
    trials, metrics, plots, tables, card, the reference profile of the holdout rows and scores, model),
    register, promote (with `challenger`: give the version the alias `challenger`, champion unmoved).

    The search sees only the training and validation rows; with it off, the job fits as configured. The
    champion is compared with the new model on the same holdout rows, which neither was trained on. A
    degenerate training set or model (`models.gates`) stops the run before anything is registered; a
    version failing one of the publication gates of the config (`gates:`) is registered but not champion.
    """
    split = job.split()
    check_split(split, job.label)
    registration = job.registration
    experiment_id = ensure_experiment(registration.experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=registration.model_name) as run:
        mlflow.set_tags({**job.tags, "evaluation": split.method})
        log_config_and_splits(
            config.model_dump(mode="json"), split.named(), job.label, registration.model_name
        )
        job, search = searched_job(job, split)
        model, info = job.fit(split)
        if search is not None:
            log_search(search)
            info = replace(info, search=search)
        evaluation = job.evaluate(model, split)
        try:
            check_evaluation(evaluation)
        except DegenerateTraining as err:
            mlflow.set_tag("cma.refused", str(err))
            raise
        log_test_metrics(evaluation.metrics)
        mlflow.log_metrics(fit_metrics(info))
        log_evaluation_plots(
            evaluation.labels, evaluation.scores, evaluation.oracle, model.feature_importance()
        )
        for name, table in evaluation.tables.items():
            mlflow.log_table(table, f"evaluation/{name}.json")
        if evaluation.notes:
            mlflow.log_text(evaluation.notes, "evaluation/data_notes.txt")
        card = job.card(model, evaluation, split, info, run.info.run_id)
        new_scores = _holdout_scores(model, evaluation)
        profile = monitoring_profile(model, evaluation.holdout, new_scores)
        mlflow.log_dict(profile, PROFILE_ARTIFACT)
        logged = log_model_with_card(ScoringPyfunc(model, profile), job.input_example(split), card)
        new_score, score_champion, publication = _comparison(job, config, evaluation, new_scores)
        result = register_logged_model(
            run.info.run_id,
            logged,
            info,
            evaluation.metrics,
            registration,
            new_score,
            score_champion,
            card,
            publication,
            challenger=challenger,
        )
    return replace(
        result,
        model=model,
        name=registration.model_name,
        evaluation_method=split.description,
        tables=evaluation.tables,
    )


def monitoring_profile(model: ScoringModel, rows: pd.DataFrame, scores: np.ndarray) -> dict[str, Any]:
    """The reference distribution of `rows` (as the model reads them) and of its `scores` of them, as a
    plain dict: what the registered model carries for monitoring (`ScoringPyfunc.reference_profile`)."""
    from models.monitoring import reference_profile

    profile = reference_profile(
        model.input_contract, rows, scores, alert_threshold=getattr(model, "alert_threshold", None)
    )
    return profile.to_dict()


def _holdout_scores(model: ScoringModel, evaluation: Evaluation) -> np.ndarray:
    """The model's scores of the evaluation's holdout rows (computed once, by the evaluation if it did)."""
    scored = evaluation.holdout_scores
    if scored is None:
        return _probabilities(model, evaluation.holdout)
    return np.asarray(scored, dtype=float)


def _comparison(
    job: TrainingJob, config: Any, evaluation: Evaluation, new_scores: np.ndarray
) -> tuple[float, Callable[[PyFuncModel], float], Publication | None]:
    """How a model scoring `new_scores` on the evaluation's holdout rows is judged against the champion:
    its comparison metric, the champion's on the same rows, and the publication gates of the config."""
    holdout, labels = evaluation.holdout, evaluation.holdout_labels
    new_score = job.comparison_metric(labels, new_scores)
    scored_champions: dict[int, np.ndarray] = {}  # by id(): a PyFuncModel is not hashable

    def champion_scores(champion: PyFuncModel) -> np.ndarray:
        """The champion's scores of the holdout rows, computed once for the metric and the gates."""
        if id(champion) not in scored_champions:
            scores = pd.DataFrame(champion.predict(holdout, params={"explain": False}))["probability"]
            scored_champions[id(champion)] = scores.to_numpy(dtype=float)
        return scored_champions[id(champion)]

    def score_champion(champion: PyFuncModel) -> float:
        return job.comparison_metric(labels, champion_scores(champion))

    bounds = publication_bounds(config)
    publication = (
        None
        if bounds is None
        else Publication(
            labels=np.asarray(labels, dtype=float),
            scores=new_scores,
            test_auc=float(evaluation.metrics["roc_auc"]),
            champion_scores=champion_scores,
            bounds=bounds,
        )
    )
    return new_score, score_champion, publication


def publication_bounds(config: Any) -> PublicationGates | None:
    """The publication gates of a family's config (its `gates:` field); None for a config that declares
    none (a family keeps the metric rule alone until its config has the field)."""
    bounds = getattr(config, "gates", None)
    return bounds if isinstance(bounds, PublicationGates) else None


def _probabilities(model: ScoringModel, rows: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.score(rows)["probability"], dtype=float)


def train_family(
    family: ModelFamily, config: Any, dataset: pd.DataFrame, data: PipelineData, challenger: bool = False
) -> list[TrainResult]:
    """Train and register every job of one run of `family` on `dataset` (as challengers, with
    `challenger`)."""
    return [train_job(job, config, challenger) for job in family.jobs(config, dataset, data)]


def evaluate_registered(
    family: ModelFamily,
    config: Any,
    dataset: pd.DataFrame,
    data: PipelineData,
    model_uri: str | None = None,
    missing_ok: bool = False,
) -> dict[str, dict[str, float]]:
    """Registered name -> metrics of its champion (or of `model_uri`, for a family with one job) on the test
    split the family makes of `dataset`, next to the oracle when simulated, through the model's own face.
    With `missing_ok`, a name without champion (its versions failed a gate) is left out instead of raising."""
    out = {}
    for job in family.jobs(config, dataset, data):
        registration = job.registration
        if (
            model_uri is None
            and missing_ok
            and current_champion(registration.model_name, registration.alias) is None
        ):
            continue
        uri = model_uri or f"models:/{registration.model_name}@{registration.alias}"
        model: ScoringModel = mlflow.pyfunc.load_model(uri).unwrap_python_model().model
        out[registration.model_name] = job.evaluate(model, job.split()).metrics
    return out


def promote_registered(
    family: ModelFamily,
    config: Any,
    dataset: pd.DataFrame,
    data: PipelineData,
    registered: str | None = None,
) -> dict[str, PromotionDecision]:
    """Registered name -> the decision on its challenger (the version holding the alias `challenger`), for
    each name of `family` that has one (or `registered` alone), judged as a new champion: evaluated now on
    the test split the family makes of `dataset`, against the current champion on the same rows, by the
    config's publication gates and the metric rule (`pipelines.registry.promote_challenger`).

    ValueError when `registered` is not one of the family's names, or when no name has a challenger."""
    jobs = family.jobs(config, dataset, data)
    names = [job.registration.model_name for job in jobs]
    if registered is not None and registered not in names:
        raise ValueError(f"'{registered}' is not registered by {family.name} (its names: {', '.join(names)})")
    decisions: dict[str, PromotionDecision] = {}
    for job in jobs:
        registration = job.registration
        name = registration.model_name
        if registered is not None and name != registered:
            continue
        challenger = current_champion(name, CHALLENGER_ALIAS)
        if challenger is None:
            continue
        uri = f"models:/{name}/{challenger.version}"
        model: ScoringModel = mlflow.pyfunc.load_model(uri).unwrap_python_model().model
        evaluation = job.evaluate(model, job.split())
        new_score, score_champion, publication = _comparison(
            job, config, evaluation, _holdout_scores(model, evaluation)
        )
        decisions[name] = promote_challenger(
            name,
            str(challenger.version),
            new_score,
            score_champion,
            alias=registration.alias,
            metric_name=registration.promote_metric,
            publication=publication,
        )
    if not decisions:
        checked = registered or ", ".join(names)
        raise ValueError(
            f"{checked}: no version holds the alias '{CHALLENGER_ALIAS}' "
            "(register one with `cma-predict train --challenger`)"
        )
    return decisions


def load_family_config(name: str, path: Path | None = None, overrides: list[str] | None = None) -> Any:
    """The config of family `name`: its YAML (default `pipelines/configs/<name>.yaml`) and overrides."""
    fam = family(name)
    default = default_config_path(name)
    return load_config(fam.config_type, path or (default if default.exists() else None), overrides)


def train_model(
    name: str,
    config: Any,
    quarantine_dir: Path,
    dataset: pd.DataFrame | None = None,
    challenger: bool = False,
) -> tuple[pd.DataFrame, list[TrainResult]]:
    """Build the dataset of family `name` (unless given), then train and register its jobs (as challengers,
    with `challenger`)."""
    fam = family(name)
    data = pipeline_data(quarantine_dir)
    rows = fam.build_dataset(config, data) if dataset is None else dataset
    return rows, train_family(fam, config, rows, data, challenger)
