"""The one face every model package implements: how it is trained, and how a fitted model scores.

Scoring face (`ScoringModel`): a fitted model says what it reads (`input_contract`: the fields of one
record, their types and bounds, the field that identifies a record) and what it answers (`output_fields`),
and `score(rows, explain)` returns the probability, the model's own outputs (percentile, band, actions...)
and, when asked, the main reasons in French. The MLflow pyfunc, the service, the batch jobs and the tests
all call `score`; none of them rebuilds a model's features.

Training face (`ModelFamily` -> `TrainingJob`): a family reads its config (a pydantic model it defines) and
gives one job per model to register (one for most families, one per horizon for the survival models). A
job splits its dataset, fits and evaluates (against the oracle when the data is simulated), writes its
card and input example. `pipelines.runner` logs, registers and promotes every job the same way.

Everything here is pure: files and MLflow are reached through what the pipeline hands in (`DataAccess`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import BaseModel

if TYPE_CHECKING:
    from pathlib import Path

    from models.contracts import TableContract, ValidationReport
    from models.estimator import FitInfo
    from models.reference import Reference
    from models.site_potential.territory import Territory

FieldKind = Literal["text", "date", "int", "float"]
CodeKind = Literal["siret", "naf", "commune"]
"""An official identifier a text field holds, checked beyond its pattern: a SIRET by its Luhn key (La Poste's
own rule for SIREN 356000000), a NAF rev.2 sub-class or an INSEE COG commune code by being one of the
reference's codes (the service resolves the reference; a model holds no file)."""
Rows = pd.DataFrame | Sequence[Mapping[str, Any]] | Mapping[str, Any]
"""What `score` takes: a frame, a few records (mappings), or columns (a mapping of equal-length sequences
or Arrow arrays), with the fields of the model's `input_contract` (dates as dates or ISO strings)."""


@dataclass(frozen=True)
class InputField:
    """One field of a record a model scores: type, constraints, default, meaning (in English for the API
    documentation) and an example value."""

    name: str
    kind: FieldKind
    description: str = ""
    required: bool = True
    default: Any = None
    nullable: bool = False  # an explicit null is a valid value
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    ge: float | date | None = None
    le: float | date | None = None
    example: Any = None
    code: CodeKind | None = None  # an identifier checked beyond its pattern (`CodeKind`)


@dataclass(frozen=True)
class DateOrder:
    """Two date fields of one record in the order the facts they record must follow: `earlier` before
    `later` (`strict`), or not after it. A record out of that order is impossible (a contract ending before
    it starts, a company created after its scoring date) and is refused, its error on the field `blame`
    (default: `later`). `later_default_today`: a missing `later` is today (the scoring date's default)."""

    earlier: str
    later: str
    strict: bool = True
    later_default_today: bool = False
    blame: str | None = None

    @property
    def field(self) -> str:
        """The field a record out of order is reported on."""
        return self.blame or self.later


@dataclass(frozen=True)
class InputContract:
    """The records a model scores.

    `id_field` is echoed in every result (a SIRET, a contract id); without one, the record's position
    stands in. `lenient` records come from a centre's own extract: column names compared without stray
    spaces, columns the model does not read ignored (and never kept), numbers with a decimal comma, dates
    DD/MM/YYYY. `related` names tables a request may add next to the records (e.g. a company's past
    contracts), each with its own contract. `order`: the date fields whose order a real record follows.
    `as_of`: the date field holding the record's scoring date (the month its score counts in for
    monitoring, and where the horizon of its outcome starts); without it, the day it was scored.
    """

    fields: tuple[InputField, ...]
    id_field: str | None = None
    lenient: bool = False
    related: Mapping[str, InputContract] = field(default_factory=dict)
    description: str = ""
    order: tuple[DateOrder, ...] = ()
    as_of: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Field names in contract order."""
        return tuple(f.name for f in self.fields)

    def example(self) -> dict[str, Any]:
        """One example record (the fields that have an example value)."""
        return {f.name: f.example for f in self.fields if f.example is not None}


@dataclass(frozen=True)
class OutputField:
    """One output of `score` besides `probability` and `reasons`: its type, meaning, and the French column
    name of the CSV answer agents download."""

    name: str
    kind: Literal["float", "text", "texts"]
    description: str = ""
    csv_name: str | None = None
    allowed: tuple[str, ...] | None = None
    ge: float | None = None
    le: float | None = None


@runtime_checkable
class ScoringModel(Protocol):
    """A fitted model, as the registry holds it and every caller uses it."""

    @property
    def input_contract(self) -> InputContract:
        """What one record holds."""
        ...

    @property
    def output_fields(self) -> tuple[OutputField, ...]:
        """The model's own outputs, besides `probability` and `reasons`."""
        ...

    def score(
        self, rows: Rows, explain: bool = False, related: Mapping[str, Rows] | None = None
    ) -> dict[str, Any]:
        """`probability` (NumPy array), the model's outputs and `reasons` (a list of French sentences per
        row, empty lists unless `explain`), one value per row, in the rows' order."""
        ...

    def feature_importance(self) -> pd.Series:
        """Total gain of each feature, largest first."""
        ...


def empty_reasons(n: int) -> list[list[str]]:
    """`n` empty reason lists (one shared list: only read, never mutated)."""
    return [[]] * n


# --------------------------------------------------------------------------------------------------------
# Training face


class DataAccess(Protocol):
    """The file and reference access a training job needs, handed in by the pipeline (I/O at the edges)."""

    @property
    def reference(self) -> Reference:
        """COG communes and NAF sub-classes."""
        ...

    def territory(self) -> Territory:
        """Communes with their INSEE statistics and neighbourhoods."""
        ...

    def read_validated(self, path: Path, contract: TableContract) -> tuple[pd.DataFrame, ValidationReport]:
        """A chamber file read under its contract (invalid rows quarantined and counted)."""
        ...

    def read_text_table(self, path: Path) -> pd.DataFrame:
        """A CSV or Parquet file, every column as text, read by the one reading rule."""
        ...

    def read_table(self, path: Path) -> pd.DataFrame:
        """A generated table (Parquet or CSV) as written by the pipelines."""
        ...


@dataclass(frozen=True)
class Split:
    """Train, validation and test rows, how they were made (a sentence for the card), and the folds of a
    cross-validation (indices into `train` + `valid` + `test` stacked) when there is one."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    method: str
    description: str
    folds: list[tuple[np.ndarray, np.ndarray]] | None = None

    def named(self) -> dict[str, pd.DataFrame]:
        """The three splits by name (for logging)."""
        return {"train": self.train, "validation": self.valid, "test": self.test}


@dataclass
class Evaluation:
    """What evaluating a fitted model gave: metrics (next to the oracle's when known), the labels and scores
    of the plots, tables to log (by group, by section...), and the rows on which a champion is compared.

    `holdout` holds rows (as `score` takes them) that the new model was not trained on, with
    `holdout_labels`: the runner scores the current champion on them to decide the promotion.
    """

    metrics: dict[str, float]
    labels: np.ndarray
    scores: np.ndarray
    oracle: np.ndarray | None
    holdout: pd.DataFrame
    holdout_labels: np.ndarray
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: str = ""
    holdout_scores: np.ndarray | None = None  # the new model's scores of `holdout`, when already computed


@dataclass(frozen=True)
class Registration:
    """Where a job's model goes: registered name, experiment, alias and the metric that moves the alias."""

    model_name: str
    experiment: str
    alias: str = "champion"
    promote_metric: str = "roc_auc"


class TrainingJob(Protocol):
    """One model to train, evaluate and register."""

    tags: dict[str, str]

    @property
    def registration(self) -> Registration:
        """Registered name, experiment, alias, promotion metric."""
        ...

    @property
    def label(self) -> str:
        """The label column of the dataset."""
        ...

    def split(self) -> Split:
        """Train / validation / test (by time where the question is about the future)."""
        ...

    def fit(self, split: Split) -> tuple[ScoringModel, FitInfo]:
        """The model to register."""
        ...

    def evaluate(self, model: ScoringModel, split: Split) -> Evaluation:
        """Metrics on rows the model was not trained on (test set or cross-validation)."""
        ...

    def comparison_metric(self, labels: np.ndarray, scores: np.ndarray) -> float:
        """The promotion metric of scores on the holdout rows (higher is better)."""
        ...

    def card(
        self, model: ScoringModel, evaluation: Evaluation, split: Split, info: FitInfo, run_id: str
    ) -> str:
        """The model card (Markdown)."""
        ...

    def input_example(self, split: Split) -> pd.DataFrame:
        """A few rows as `score` takes them (the logged input example and signature)."""
        ...


class ModelFamily(Protocol):
    """A model package's training entry: its config type, its dataset, and the jobs a config gives."""

    name: str
    config_type: type[BaseModel]

    def build_dataset(self, config: Any, data: DataAccess) -> pd.DataFrame:
        """The training rows of the config's source (simulated, or read through `data`)."""
        ...

    def jobs(self, config: Any, dataset: pd.DataFrame, data: DataAccess) -> list[TrainingJob]:
        """The models of one training run on `dataset` (one, or one per horizon)."""
        ...

    def registrations(self, config: Any) -> list[Registration]:
        """Where the jobs of `config` register their models (known before any data is read)."""
        ...


def date_field(name: str, description: str, **options: Any) -> InputField:
    """A date field within the days a datetime64 column can hold."""
    from models.timeutils import DAY_MAX, DAY_MIN

    return InputField(name, "date", description, ge=DAY_MIN, le=DAY_MAX, **options)


def rows_frame(rows: Rows) -> pd.DataFrame:
    """Rows in any `Rows` form as a frame (columns given as Arrow arrays are read into Python values)."""
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, Mapping):
        return pd.DataFrame(
            {k: v.to_pylist() if hasattr(v, "to_pylist") else list(v) for k, v in rows.items()}
        )
    return pd.DataFrame(list(rows))


def with_defaults(frame: pd.DataFrame, contract: InputContract) -> pd.DataFrame:
    """`frame` with each optional field it lacks at its default."""
    absent = {f.name: f.default for f in contract.fields if not f.required and f.name not in frame}
    return frame.assign(**absent) if absent else frame
