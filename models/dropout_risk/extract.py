"""The extract variant of `dropout_risk`: retrained on a training centre's own extract, from a file and a
YAML config alone (which column plays which role, how to evaluate, how to band). Pure: the file comes
through `DataAccess`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.model_selection import train_test_split

from models.config import RegistryConfig
from models.dropout_risk.card import dropout_model_card
from models.dropout_risk.model import DropoutModel, RiskBandPolicy
from models.dropout_risk.training import fit_risk_model
from models.estimator import CalibrationParams, FitInfo, LightGBMParams, fit_note
from models.evaluation import evaluate_alerts_against_oracle
from models.extract import (
    ORACLE,
    ROW,
    TARGET,
    ColumnRoles,
    EvaluationSpec,
    ExtractError,
    ExtractFeatureBuilder,
    group_values,
    prepare_extract,
    split_extract,
)
from models.fairness import group_report, group_report_markdown
from models.gates import PublicationGates
from models.interface import DataAccess, Evaluation, Registration, ScoringModel, Split, TrainingJob
from models.search import SearchParams, TunedByConfig


class ExtractCard(BaseModel):
    """What the model card says of the extract (defaults: read from the roles)."""

    model_config = ConfigDict(extra="forbid")

    population: str = Field(default="the contracts of the centre's extract", description="Who the rows are")
    outcome: str | None = Field(
        default=None, description="The positive outcome in words (default: the values)"
    )
    horizon: str | None = Field(
        default=None, description="When the outcome is observed, e.g. 'before the end'"
    )


class ExtractPipelineConfig(BaseModel):
    """Retraining on a centre's own extract: the column roles and how to evaluate, nothing else needed."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="extract", description="Short name of the extract, used in the run name")
    data: Path | None = Field(default=None, description="The extract (CSV or Parquet); --data overrides it")
    columns: ColumnRoles
    evaluation: EvaluationSpec = EvaluationSpec()
    risk_bands: RiskBandPolicy = RiskBandPolicy(method="both")
    lightgbm: LightGBMParams = LightGBMParams(monotone_history=False, min_data_in_leaf=50, num_leaves=31)
    search: SearchParams = SearchParams()
    calibration: CalibrationParams = CalibrationParams()
    card: ExtractCard = ExtractCard()
    registry: RegistryConfig = RegistryConfig(
        model_name="dropout_risk_extract", experiment="dropout_risk_extract"
    )
    gates: PublicationGates = PublicationGates()


def extract_dataset(config: ExtractPipelineConfig, data: DataAccess) -> pd.DataFrame:
    """The extract's rows with a known outcome, typed; what was left out and why in `attrs`."""
    if config.data is None:
        raise ExtractError("no extract given (config `data` or --data)")
    prepared = prepare_extract(data.read_text_table(config.data), config.columns, source=config.data.name)
    frame = prepared.frame
    frame.attrs.update(
        source=config.data.name,
        n_rows=prepared.n_rows,
        n_unknown_outcome=prepared.n_unknown_outcome,
        notes=list(prepared.notes),
    )
    return frame


def _oracle(frame: pd.DataFrame) -> np.ndarray | None:
    """The simulator's true probabilities (a SYNTHETIC extract with `columns.oracle`), else None."""
    if ORACLE not in frame or frame[ORACLE].isna().any():
        return None
    return frame[ORACLE].to_numpy(dtype=float)


@dataclass
class ExtractJob(TunedByConfig):
    """Train a risk model on one extract (time split, stratified split or cross-validation)."""

    config: ExtractPipelineConfig
    dataset: pd.DataFrame
    label: str = TARGET
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def registration(self) -> Registration:
        """Name, experiment, alias and promotion metric from the config."""
        return self.config.registry.registration()

    @property
    def roles(self) -> ColumnRoles:
        """The column roles."""
        return self.config.columns

    def split(self) -> Split:
        """By time on the date column, else stratified, or cross-validation (see `split_extract`)."""
        return split_extract(self.dataset, self.roles, self.config.evaluation)

    def fit(self, split: Split) -> tuple[ScoringModel, FitInfo]:
        """The model to register: fit on the training rows, early stopping and bands on the validation."""
        return self._fit(split.train, split.valid)

    def _fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> tuple[DropoutModel, FitInfo]:
        roles = self.roles
        builder = ExtractFeatureBuilder(roles)
        return fit_risk_model(
            train,
            valid,
            builder,
            roles.categorical,
            roles.numeric,
            id_column=roles.identifier or ROW,
            label=TARGET,
            policy=self.config.risk_bands,
            params=self.config.lightgbm,
            calibration=self.config.calibration,
            feature_labels=builder.labels,
        )

    def evaluate(self, model: ScoringModel, split: Split) -> Evaluation:
        """Test metrics (or the mean over folds), at the alert capacity, and by group."""
        assert isinstance(model, DropoutModel)
        capacity = self.config.risk_bands.alert_capacity
        if split.folds is not None:
            metrics, frame, scores = self._cross_validate(split)
            holdout_scores = np.asarray(model.score(self.rows(split.test))["probability"], dtype=float)
            on_holdout = evaluate_alerts_against_oracle(
                split.test[TARGET].to_numpy(), holdout_scores, _oracle(split.test), capacity
            )
            metrics.update({f"holdout_{k}": v for k, v in on_holdout.items() if k in ("roc_auc", "pr_auc")})
        else:
            frame = split.test
            scores = np.asarray(model.score(self.rows(frame))["probability"], dtype=float)
            holdout_scores = scores
            metrics = evaluate_alerts_against_oracle(
                frame[TARGET].to_numpy(), scores, _oracle(frame), capacity
            )
        labels = frame[TARGET].to_numpy()
        groups = group_report(labels, scores, self._groups(frame), threshold=model.thresholds[1])
        metrics["groups_flagged"] = float((groups["flags"] != "").sum()) if len(groups) else 0.0
        notes = "\n".join(self.dataset.attrs.get("notes", [])) or "no data issue"
        holdout = self.rows(split.test)
        held = split.test[TARGET].to_numpy()
        return Evaluation(
            metrics, labels, scores, _oracle(frame), holdout, held, {"groups": groups}, notes, holdout_scores
        )

    def rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The columns the model reads (identifier and features), as the extract names them."""
        roles = self.roles
        names = [*([roles.identifier] if roles.identifier else []), *roles.categorical, *roles.numeric]
        return frame[names].astype({n: object for n in roles.categorical}).reset_index(drop=True)

    def _cross_validate(self, split: Split) -> tuple[dict[str, float], pd.DataFrame, np.ndarray]:
        """Mean metrics over the folds, with the out-of-fold rows and scores."""
        data = pd.concat([split.train, split.valid], ignore_index=True)
        spec = self.config.evaluation
        fold_metrics, parts, scores = [], [], []
        for fit_idx, test_idx in split.folds or []:
            fit_rows, test_rows = data.iloc[fit_idx], data.iloc[test_idx]
            train, valid = train_test_split(
                fit_rows, test_size=spec.validation_share, stratify=fit_rows[TARGET], random_state=spec.seed
            )
            model, _ = self._fit(train, valid)
            fold_scores = np.asarray(model.score(self.rows(test_rows))["probability"], dtype=float)
            fold_metrics.append(
                evaluate_alerts_against_oracle(
                    test_rows[TARGET].to_numpy(),
                    fold_scores,
                    _oracle(test_rows),
                    self.config.risk_bands.alert_capacity,
                )
            )
            parts.append(test_rows)
            scores.append(fold_scores)
        table = pd.DataFrame(fold_metrics)
        metrics = {str(k): float(v) for k, v in table.mean().items()}
        metrics.update({f"{k}_sd": float(table[k].std()) for k in ("roc_auc", "pr_auc")})
        return metrics, pd.concat(parts, ignore_index=True), np.concatenate(scores)

    def _groups(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        roles = self.roles
        names = dict.fromkeys([*roles.sensitive, *roles.report_groups])
        return {name: group_values(frame, name, roles.group_bins.get(name)) for name in names}

    def comparison_metric(self, labels: np.ndarray, scores: np.ndarray) -> float:
        """The promotion metric of the config."""
        capacity = self.config.risk_bands.alert_capacity
        return evaluate_alerts_against_oracle(labels, scores, None, capacity)[
            self.registration.promote_metric
        ]

    def card(
        self, model: ScoringModel, evaluation: Evaluation, split: Split, info: FitInfo, run_id: str
    ) -> str:
        """The card, written from the extract's own config (population, outcome, sensitive attributes)."""
        assert isinstance(model, DropoutModel)
        roles, attrs, spec = self.roles, self.dataset.attrs, self.config.card
        outcome = spec.outcome or f"'{roles.target.column}' in {roles.target.positive}"
        if spec.horizon:
            outcome += f" ({spec.horizon})"
        notes = "".join(f"\n- {n}" for n in attrs.get("notes", []))
        searched_folds = (
            " The folds refit with the searched parameters, chosen on rows the folds include: their mean is "
            "slightly optimistic (the held-out rows never entered the search)."
            if info.search is not None and split.folds is not None
            else ""
        )
        ident = (
            f"rows identified by '{roles.identifier}'"
            if roles.identifier
            else "no identifier column: rows are numbered by their line in the file"
        )
        return dropout_model_card(
            evaluation.metrics,
            data_description=(
                f"Training-centre extract `{attrs.get('source', '?')}` "
                f"({attrs.get('n_rows', len(self.dataset)):,} rows, {len(self.dataset):,} with a known "
                f"outcome; positive = {roles.target.positive} in "
                f"'{roles.target.column}'; {ident}). Population: {spec.population}. Data notes:"
                f"{notes or ' none.'}"
            ),
            evaluation_note=f"Evaluation: {split.description}. " + fit_note(info) + searched_folds,
            version_note=f"MLflow run `{run_id}`, config name `{self.config.name}`.",
            policy=model.policy,
            thresholds=model.thresholds,
            groups_markdown=group_report_markdown(evaluation.tables["groups"]),
            prediction_weeks=None,
            label=TARGET,
            features=[(n, "categorical") for n in roles.categorical]
            + [(n, "numeric") for n in roles.numeric],
            title=f"{self.config.registry.model_name} (retrained on the extract '{self.config.name}')",
            sensitive=tuple(roles.sensitive),
            population=spec.population,
            outcome=outcome,
            search=info.search,
        )

    def input_example(self, split: Split) -> pd.DataFrame:
        """Five test rows, as the extract names its columns."""
        return self.rows(split.test.head(5))


class ExtractFamily:
    """`dropout_risk` retrained on a centre's extract: one job per run."""

    name = "dropout_risk_extract"
    config_type = ExtractPipelineConfig

    def build_dataset(self, config: ExtractPipelineConfig, data: DataAccess) -> pd.DataFrame:
        """The extract's prepared rows."""
        return extract_dataset(config, data)

    def jobs(
        self, config: ExtractPipelineConfig, dataset: pd.DataFrame, data: DataAccess
    ) -> list[TrainingJob]:
        """One job."""
        source = str(dataset.attrs.get("source", config.data))
        tags = {"model": config.registry.model_name, "data_source": source}
        return [ExtractJob(config, dataset, tags=tags)]

    def registrations(self, config: ExtractPipelineConfig) -> list[Registration]:
        """One registered model."""
        return [config.registry.registration()]


FAMILY = ExtractFamily()
