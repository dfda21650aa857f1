"""The figures of production monitoring: drift of the inputs and of the scores, performance expected before
the outcomes are known and realized once they are, and the groups a record belongs to.

A model is registered with a `ReferenceProfile` (the bins of each input field and of the score, with the
share of the reference rows in each bin). Live traffic is binned the same way (`ReferenceProfile.bin_rows`,
`bin_scores`) and compared bin by bin (`psi`, `drift_table`). Until the outcomes arrive, calibrated scores
say what performance to expect (`expected_auc`, NannyML's CBPE; `capture_table`'s expected capture); once
they arrive, `performance_table` and `recall_at_alert` give the realized figures next to the expected ones.

Everything here is pure (NumPy, pandas, scikit-learn): the monitoring jobs read the logs and the outcomes,
log the tables and raise the alerts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from models.fairness import MIN_GROUP_SIZE, RECALL_GAP
from models.interface import InputContract, InputField

OTHER = "autre"
MISSING = "manquant"
SCORE = "score"
UNKNOWN_GROUP = "(inconnu)"

BinKind = Literal["numeric", "category"]
Transform = Literal["none", "naf_division", "departement"]


def _naf_sections() -> dict[str, str]:
    spans = [
        (1, 3, "A"), (5, 9, "B"), (10, 33, "C"), (35, 35, "D"), (36, 39, "E"), (41, 43, "F"),
        (45, 47, "G"), (49, 53, "H"), (55, 56, "I"), (58, 63, "J"), (64, 66, "K"), (68, 68, "L"),
        (69, 75, "M"), (77, 82, "N"), (84, 84, "O"), (85, 85, "P"), (86, 88, "Q"), (90, 93, "R"),
        (94, 96, "S"), (97, 98, "T"), (99, 99, "U"),
    ]  # fmt: skip
    return {f"{d:02d}": letter for lo, hi, letter in spans for d in range(lo, hi + 1)}


NAF_SECTIONS: dict[str, str] = _naf_sections()
"""NAF rev.2 division (2 digits) -> section letter (INSEE's nomenclature: 01-03 A ... 99 U)."""


# --------------------------------------------------------------------------------------------------------
# Values as text, transforms


def _text(values: pd.Series | np.ndarray | list[Any]) -> pd.Series:
    """Values as stripped text, missing (None) when absent or blank; a whole number given as a number (3 or
    3.0) reads `3`, as a centre's extract is read."""
    series = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    series = series.reset_index(drop=True)
    if pd.api.types.is_float_dtype(series.dtype):
        whole = series.notna() & (series == series.round())
        text = series.astype("string").where(~whole, series.where(whole).astype("Int64").astype("string"))
    elif pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        text = series.astype("string")  # texts and missing values only (a record's text field): at once
    else:
        text = series.map(
            lambda v: (
                None
                if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT
                else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
            )
        ).astype("string")
    text = text.str.strip()
    return _objects(text.where(text.notna() & (text != "")))


def _objects(text: pd.Series) -> pd.Series:
    """Text as Python objects, missing as None (not pandas' NA, whose truth value is ambiguous)."""
    return text.astype(object).where(text.notna(), None)


def _numbers(values: pd.Series | np.ndarray | list[Any]) -> np.ndarray:
    """Values as floats (decimal comma accepted); what is not a number is NaN."""
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    text = series.astype("string").str.strip().str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)


def naf_division(values: pd.Series | np.ndarray | list[Any]) -> pd.Series:
    """The NAF rev.2 division (first 2 digits) of each code ("43.22A" or "4322A" -> "43"), None when missing
    or not starting with 2 digits."""
    text = _text(values).astype("string")
    division = text.str[:2]
    return _objects(division.where(division.str.fullmatch(r"[0-9]{2}").fillna(False)))


def departement(values: pd.Series | np.ndarray | list[Any]) -> pd.Series:
    """The département of each INSEE commune code: its first 2 characters, 3 overseas (codes starting with
    97); Corsica's "2A" and "2B" kept. None when missing."""
    text = _text(values).astype("string").str.upper()
    code = text.str[:2].where(~text.str.startswith("97").fillna(False), text.str[:3])
    return _objects(code)


def _transformed(values: pd.Series | np.ndarray | list[Any], transform: Transform) -> pd.Series:
    if transform == "naf_division":
        return naf_division(values)
    if transform == "departement":
        return departement(values)
    return _text(values)


# --------------------------------------------------------------------------------------------------------
# Reference profile


def _num(value: float) -> str:
    """A number the French way (decimal comma, no useless digits)."""
    return f"{value:.4g}".replace(".", ",")


@dataclass(frozen=True)
class FeatureBins:
    """The bins of one input field (or of the score) and the reference share of each.

    Numeric: `edges` are the inner cut points, bins (-inf, e0], (e0, e1], ..., (ek, inf), then "manquant".
    Category: the known `categories`, then "autre" (any other value), then "manquant". `transform` is
    applied to a value before binning (a NAF code read by its division, a commune by its département), so
    that the reference and live traffic are compared on the same coarse groups.
    """

    name: str
    kind: BinKind
    edges: tuple[float, ...]
    categories: tuple[str, ...]
    shares: tuple[float, ...]
    transform: Transform = "none"

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "category"):
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")
        if self.transform not in ("none", "naf_division", "departement"):
            raise ValueError(f"{self.name}: unknown transform {self.transform!r}")
        if list(self.edges) != sorted(set(self.edges)):
            raise ValueError(f"{self.name}: edges must be strictly increasing")
        if len(self.shares) != self.size:
            raise ValueError(f"{self.name}: {len(self.shares)} shares for {self.size} bins")

    @property
    def size(self) -> int:
        """Number of bins, "autre" and "manquant" included."""
        inner = len(self.edges) + 1 if self.kind == "numeric" else len(self.categories) + 1
        return inner + 1

    def labels(self) -> list[str]:
        """A readable French label per bin, in bin order."""
        if self.kind == "category":
            return [*self.categories, OTHER, MISSING]
        e = self.edges
        if not e:
            return ["toutes valeurs", MISSING]
        middle = [f"{_num(lo)} - {_num(hi)}" for lo, hi in itertools.pairwise(e)]
        return [f"<= {_num(e[0])}", *middle, f"> {_num(e[-1])}", MISSING]

    def bin(self, values: pd.Series | np.ndarray | list[Any]) -> np.ndarray:
        """The bin index of each value (transform applied first); a missing value goes to the last bin."""
        missing = self.size - 1
        if self.kind == "numeric":
            x = _numbers(values)
            out = np.searchsorted(np.asarray(self.edges, dtype=float), x, side="left")
            out[np.isnan(x)] = missing
            return out.astype(np.int64)
        text = _transformed(values, self.transform)
        codes = pd.Categorical(text, categories=list(self.categories)).codes.astype(np.int64)
        unknown = np.where(text.isna().to_numpy(), missing, len(self.categories))
        return np.where(codes >= 0, codes, unknown).reshape(-1)

    def to_dict(self) -> dict[str, Any]:
        """As JSON values."""
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": [float(e) for e in self.edges],
            "categories": [str(c) for c in self.categories],
            "shares": [float(s) for s in self.shares],
            "transform": self.transform,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureBins:
        """From `to_dict`'s output."""
        return cls(
            name=str(data["name"]),
            kind=data["kind"],
            edges=tuple(float(e) for e in data["edges"]),
            categories=tuple(str(c) for c in data["categories"]),
            shares=tuple(float(s) for s in data["shares"]),
            transform=data.get("transform", "none"),
        )


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference distribution of a model's inputs and scores, logged with the model at registration.

    `alert_threshold`: the probability at or above which a record is alerted (the dropout model's 'élevé'
    band), when the model has one.
    """

    features: tuple[FeatureBins, ...]
    score: FeatureBins
    rows: int
    alert_threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable (`json.dumps` works); `from_dict` gives back an equal profile."""
        return {
            "features": [f.to_dict() for f in self.features],
            "score": self.score.to_dict(),
            "rows": int(self.rows),
            "alert_threshold": None if self.alert_threshold is None else float(self.alert_threshold),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        """From `to_dict`'s output (e.g. read back from the logged JSON)."""
        threshold = data.get("alert_threshold")
        return cls(
            features=tuple(FeatureBins.from_dict(f) for f in data["features"]),
            score=FeatureBins.from_dict(data["score"]),
            rows=int(data["rows"]),
            alert_threshold=None if threshold is None else float(threshold),
        )

    def bin_rows(self, rows: pd.DataFrame) -> np.ndarray:
        """Bin index of each row (one row per record) and feature (one column per `features` entry); a field
        absent from `rows` is missing for every record."""
        out = np.empty((len(rows), len(self.features)), dtype=np.int64)
        for j, f in enumerate(self.features):
            out[:, j] = f.bin(rows[f.name]) if f.name in rows else f.size - 1
        return out

    def bin_scores(self, scores: np.ndarray) -> np.ndarray:
        """Bin index of each score."""
        return self.score.bin(np.asarray(scores, dtype=float))


def _shares(bins: FeatureBins, values: Any) -> tuple[float, ...]:
    index = bins.bin(values)
    counts = np.bincount(index, minlength=bins.size).astype(float)
    return tuple(float(c) for c in counts / counts.sum())


def _quantile_edges(values: np.ndarray, bins: int) -> tuple[float, ...]:
    known = values[~np.isnan(values)]
    if len(known) == 0 or bins < 2:
        return ()
    cuts = np.quantile(known, np.arange(1, bins) / bins)
    return tuple(float(c) for c in np.unique(cuts))


MIN_CATEGORY_ROWS = 50
"""A free text value is a category of the profile only when this many reference rows hold it: a rarer one
could be one person's (a tutor's name in a centre's extract), and the profile travels with the model."""


def _frequent(values: pd.Series, limit: int, min_rows: int = 1) -> tuple[str, ...]:
    """The `limit` most frequent values held by at least `min_rows` rows, ties by value (so that a profile
    does not depend on row order)."""
    counts = values.dropna().astype(str).value_counts()
    ordered = sorted(((k, n) for k, n in counts.items() if n >= min_rows), key=lambda kv: (-kv[1], kv[0]))
    return tuple(str(k) for k, _ in ordered[:limit])


def _profiled(contract: InputContract) -> list[InputField]:
    """The fields whose distribution is followed: not the identifier, no date, no SIRET."""
    return [
        f for f in contract.fields if f.name != contract.id_field and f.kind != "date" and f.code != "siret"
    ]


def reference_profile(
    contract: InputContract,
    rows: pd.DataFrame,
    scores: np.ndarray,
    *,
    bins: int = 10,
    max_categories: int = 20,
    alert_threshold: float | None = None,
) -> ReferenceProfile:
    """The profile of the reference rows (e.g. the test rows at registration) and of their scores.

    Fields followed: all but the identifier, dates and SIRETs. A NAF code is followed by its division, a
    commune by its département. A text field with `allowed` values has them as categories, another text
    field its `max_categories` most frequent reference values (after the transform), the rest "autre". A
    number (and the score) is cut at its reference quantiles 1/bins ... (bins-1)/bins, duplicates dropped (a
    constant column has one edge, an all-missing one none); what is not a number is missing.
    """
    scores = np.asarray(scores, dtype=float)
    if len(rows) == 0:
        raise ValueError("reference_profile: no reference row")
    if len(scores) != len(rows):
        raise ValueError(f"reference_profile: {len(scores)} scores for {len(rows)} rows")
    if bins < 1:
        raise ValueError("reference_profile: bins must be at least 1")
    features = []
    for f in _profiled(contract):
        present = f.name in rows
        values = rows[f.name] if present else pd.Series([None] * len(rows), dtype=object)
        transform: Transform = (
            "naf_division" if f.code == "naf" else "departement" if f.code == "commune" else "none"
        )
        if f.kind in ("int", "float") and transform == "none":
            edges = _quantile_edges(_numbers(values), bins)
            spec = FeatureBins(f.name, "numeric", edges, (), (0.0,) * (len(edges) + 2))
        else:
            if f.allowed is not None and transform == "none":
                categories = tuple(str(a) for a in f.allowed)
            else:
                # A code's division or département is public; a free text, only when it is common.
                floor = 1 if transform != "none" else MIN_CATEGORY_ROWS
                categories = _frequent(_transformed(values, transform), max_categories, floor)
            spec = FeatureBins(f.name, "category", (), categories, (0.0,) * (len(categories) + 2), transform)
        features.append(_with_shares(spec, values))
    edges = _quantile_edges(scores, bins)
    score = _with_shares(FeatureBins(SCORE, "numeric", edges, (), (0.0,) * (len(edges) + 2)), scores)
    threshold = None if alert_threshold is None else float(alert_threshold)
    return ReferenceProfile(tuple(features), score, len(rows), threshold)


def _with_shares(spec: FeatureBins, values: Any) -> FeatureBins:
    return FeatureBins(
        spec.name, spec.kind, spec.edges, spec.categories, _shares(spec, values), spec.transform
    )


# --------------------------------------------------------------------------------------------------------
# Drift


def psi(
    reference_shares: Sequence[float], live_counts: Sequence[int] | np.ndarray, floor: float = 1e-4
) -> float:
    """Population stability index: sum over bins of (live - ref) * ln(live / ref), on shares.

    Both shares are floored at `floor` so that an empty bin gives a large but finite term; they are not
    renormalised afterwards (the floor adds at most `floor` per bin, negligible next to the usual 0.1 and
    0.2 thresholds). NaN when there is no live row.
    """
    ref = np.asarray(reference_shares, dtype=float)
    counts = np.asarray(live_counts, dtype=float)
    if ref.shape != counts.shape or ref.ndim != 1:
        raise ValueError(f"psi: {len(ref)} reference shares for {counts.size} live counts")
    if (counts < 0).any() or (ref < 0).any():
        raise ValueError("psi: shares and counts must be non-negative")
    total = counts.sum()
    if total == 0:
        return float("nan")
    live = np.maximum(counts / total, floor)
    ref = np.maximum(ref, floor)
    return float(np.sum((live - ref) * np.log(live / ref)))


@dataclass(frozen=True)
class DriftThresholds:
    """When a drift is reported: PSI above `psi` (0.2, the usual "significant shift"), on at least
    `min_rows` live rows (below that a PSI is mostly noise: not judged)."""

    psi: float = 0.2
    min_rows: int = 500


def _pct(share: float) -> str:
    value = 100 * share
    return f"{value:.1f} %".replace(".", ",") if 0 < value < 1 else f"{value:.0f} %"


def _drift_row(spec: FeatureBins, index: np.ndarray, thresholds: DriftThresholds) -> dict[str, Any]:
    counts = np.bincount(np.asarray(index, dtype=np.int64), minlength=spec.size)
    if len(counts) != spec.size:
        raise ValueError(f"drift_table: {spec.name} has a bin index beyond its {spec.size} bins")
    rows = int(counts.sum())
    value = psi(spec.shares, counts)
    change = ""
    if rows:
        ref = np.asarray(spec.shares)
        live = counts / rows
        k = int(np.argmax(np.abs(live - ref)))
        change = f"{spec.name} : {spec.labels()[k]} passe de {_pct(ref[k])} à {_pct(live[k])}"
    return {
        "feature": spec.name,
        "psi": value,
        "threshold": thresholds.psi,
        "rows": rows,
        "drifted": bool(rows >= thresholds.min_rows and value > thresholds.psi),
        "top_change": change,
    }


def drift_table(
    profile: ReferenceProfile,
    feature_bins: np.ndarray,
    score_bins: np.ndarray,
    thresholds: DriftThresholds = DriftThresholds(),
) -> pd.DataFrame:
    """One row per followed field, then one row "score": PSI of the live bins against the reference, the
    threshold, the live rows, whether it drifted (never under `min_rows` rows) and the bin whose share moved
    most, in French ("naf_code : 43 passe de 12 % à 35 %")."""
    matrix = np.asarray(feature_bins)
    if matrix.ndim != 2 or matrix.shape[1] != len(profile.features):
        raise ValueError(
            f"drift_table: feature_bins must have one column per feature ({len(profile.features)}), "
            f"got shape {matrix.shape}"
        )
    rows = [_drift_row(f, matrix[:, j], thresholds) for j, f in enumerate(profile.features)]
    rows.append(_drift_row(profile.score, np.asarray(score_bins).reshape(-1), thresholds))
    return pd.DataFrame(rows, columns=["feature", "psi", "threshold", "rows", "drifted", "top_change"])


def drift_alerts(table: pd.DataFrame) -> list[str]:
    """The French reason of each drifted row of `drift_table`, e.g. "dérive de naf_code (PSI 0,41 > 0,2)"."""
    drifted = table[table["drifted"].astype(bool)]
    return [
        f"dérive de {name} (PSI {f'{value:.2f}'.replace('.', ',')} > {_num(limit)})"
        for name, value, limit in zip(
            drifted["feature"], drifted["psi"].astype(float), drifted["threshold"].astype(float), strict=True
        )
    ]


# --------------------------------------------------------------------------------------------------------
# Performance


def _probabilities(p: np.ndarray, name: str = "probabilities") -> np.ndarray:
    p = np.asarray(p, dtype=float).reshape(-1)
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"{name} must be finite and within [0, 1]")
    return p


def expected_auc(probabilities: np.ndarray) -> float:
    """The ROC AUC to expect from ranking by calibrated probabilities, before any outcome is known.

    NannyML's confidence-based performance estimation (CBPE): if record i is positive with probability p_i,
    independently, the expected number of well-ordered (positive, negative) pairs over the expected number
    of pairs is sum_{i,j} p_i (1 - p_j) [p_i > p_j] (+ 1/2 for ties) / sum_{i != j} p_i (1 - p_j). Computed
    in O(n log n) by sorting the distinct values and cumulating the negatives' weights below each. NaN with
    fewer than 2 rows, or when no pair can be mixed (every p 0, or every p 1).
    """
    p = _probabilities(probabilities)
    if len(p) < 2:
        return float("nan")
    values, counts = np.unique(p, return_counts=True)
    pos = counts * values  # expected positives at each distinct value
    neg = counts * (1 - values)
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])  # expected negatives strictly below
    tied = (counts.astype(float) ** 2 - counts) * values * (1 - values)  # pairs i != j of equal p
    numerator = float(np.sum(pos * below) + 0.5 * np.sum(tied))
    denominator = float(p.sum() * (1 - p).sum() - np.sum(p * (1 - p)))
    return numerator / denominator if denominator > 0 else float("nan")


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Standard error of a ROC AUC measured on `positives` and `negatives` (Hanley & McNeil, 1982); NaN
    without both classes or without an AUC."""
    if positives <= 0 or negatives <= 0 or not np.isfinite(auc):
        return float("nan")
    q1 = auc / (2 - auc)
    q2 = 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return float(math.sqrt(max(variance, 0.0)))


DEFAULT_SHARES: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(1, 11))


def capture_table(
    labels: np.ndarray | None, scores: np.ndarray, shares: Sequence[float] = DEFAULT_SHARES
) -> pd.DataFrame:
    """What following the highest scores first finds (La Bonne Boîte's form): for each top `share` of the
    records, the rows it holds, the `expected_capture` calibrated scores promise (sum of p in the top over
    the sum of all p) and, with `labels`, the share of all positives `captured` and the `lift` (captured /
    share). Ties keep the records' order."""
    p = _probabilities(scores, "scores")
    if not all(0 < s <= 1 for s in shares):
        raise ValueError("capture_table: shares must be within (0, 1]")
    order = np.argsort(-p, kind="stable")
    cum_p = np.concatenate([[0.0], np.cumsum(p[order])])
    y = None
    if labels is not None:
        y = np.asarray(labels, dtype=float).reshape(-1)
        if len(y) != len(p):
            raise ValueError(f"capture_table: {len(y)} labels for {len(p)} scores")
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("capture_table: labels must be 0 or 1")
        cum_y = np.concatenate([[0.0], np.cumsum(y[order])])
    out = []
    n = len(p)
    for share in shares:
        k = min(n, math.ceil(share * n - 1e-9))
        row: dict[str, Any] = {
            "share": float(share),
            "rows": k,
            "expected_capture": cum_p[k] / cum_p[-1] if cum_p[-1] > 0 else float("nan"),
        }
        if y is not None:
            captured = cum_y[k] / cum_y[-1] if cum_y[-1] > 0 else float("nan")
            row["captured"] = captured
            row["lift"] = captured / share
        out.append(row)
    return pd.DataFrame(out)


PERFORMANCE_COLUMNS = (
    "rows",
    "with_outcome",
    "positives",
    "observed_rate",
    "mean_score",
    "expected_auc",
    "expected_positive_rate",
    "roc_auc",
    "auc_se",
    "brier",
    "calibration_gap",
)


def _outcomes(frame: pd.DataFrame, needed: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    absent = [c for c in ("probability", "outcome", *needed) if c not in frame]
    if absent:
        raise ValueError(f"missing column(s): {', '.join(absent)}")
    p = _probabilities(frame["probability"].to_numpy(dtype=float), "probability")
    y = pd.to_numeric(frame["outcome"], errors="coerce").to_numpy(dtype=float)
    if frame["outcome"].notna().sum() != (~np.isnan(y)).sum() or not np.isin(y[~np.isnan(y)], (0, 1)).all():
        raise ValueError("outcome must be 0, 1 or missing (not known yet)")
    return p, y


def _performance(p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    known = ~np.isnan(y)
    pk, yk = p[known], y[known]
    positives = int(yk.sum())
    negatives = int(len(yk) - positives)
    auc = float(roc_auc_score(yk, pk)) if positives and negatives else float("nan")
    nan = float("nan")
    observed = float(yk.mean()) if len(yk) else nan
    mean_score = float(pk.mean()) if len(pk) else nan
    return {
        "rows": len(p),
        "with_outcome": int(known.sum()),
        "positives": positives,
        "observed_rate": observed,
        "mean_score": mean_score,
        "expected_auc": expected_auc(p),
        "expected_positive_rate": float(p.mean()) if len(p) else nan,
        "roc_auc": auc,
        "auc_se": auc_standard_error(auc, positives, negatives),
        "brier": float(np.mean((pk - yk) ** 2)) if len(yk) else nan,
        "calibration_gap": mean_score - observed,
    }


def performance_table(frame: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Performance per group of the `by` columns (one row overall without), expected and realized.

    `frame`: `probability`, `outcome` (0 / 1, NaN while not known yet) and the `by` columns (period,
    département, NAF section, model version...). The expected figures (`expected_auc`,
    `expected_positive_rate`) read every row of the group; the realized ones (`observed_rate`,
    `mean_score`, `roc_auc` and its Hanley-McNeil `auc_se`, `brier`, `calibration_gap` = mean score -
    observed rate) only the rows with an outcome. A missing group value is its own group.
    """
    by = list(by)
    p, y = _outcomes(frame, by)
    if not by:
        return pd.DataFrame([_performance(p, y)], columns=list(PERFORMANCE_COLUMNS))
    keys = frame[by].reset_index(drop=True)
    out = []
    for key, idx in keys.groupby(by, dropna=False, sort=True).indices.items():
        values = key if isinstance(key, tuple) else (key,)
        out.append({**dict(zip(by, values, strict=True)), **_performance(p[idx], y[idx])})
    return pd.DataFrame(out, columns=[*by, *PERFORMANCE_COLUMNS])


def recall_at_alert(frame: pd.DataFrame, threshold: float, groups: Sequence[str]) -> pd.DataFrame:
    """Recall at the alert threshold by group (the dropout model's 'élevé' band), realized and expected.

    One row per attribute (a column of `frame` among `groups`) and group: `n` rows, `with_outcome`,
    `positives`, `alerted_share` (p >= threshold, all rows), `recall` (share of the group's known
    positives alerted), `expected_recall` (sum of p over the alerted / sum of p: what calibrated scores
    promise before the outcomes) and `flagged` when the recall is more than 0.10 away from the overall
    recall (as in `models.fairness.group_report`), on groups of at least 50 rows with an outcome. Missing
    group values are the group "(inconnu)".
    """
    p, y = _outcomes(frame, groups)
    alert = p >= threshold
    known_pos = y == 1
    overall = float(alert[known_pos].mean()) if known_pos.any() else float("nan")
    out = []
    for attribute in groups:
        values = _text(frame[attribute]).fillna(UNKNOWN_GROUP).astype(str).to_numpy()
        for group in sorted(set(values)):
            mask = values == group
            pos = mask & known_pos
            recall = float(alert[pos].mean()) if pos.any() else float("nan")
            mass = p[mask].sum()
            with_outcome = int((mask & ~np.isnan(y)).sum())
            flagged = bool(
                with_outcome >= MIN_GROUP_SIZE
                and np.isfinite(recall)
                and np.isfinite(overall)
                and abs(recall - overall) > RECALL_GAP
            )
            out.append(
                {
                    "attribute": attribute,
                    "group": group,
                    "n": int(mask.sum()),
                    "with_outcome": with_outcome,
                    "positives": int(pos.sum()),
                    "alerted_share": float(alert[mask].mean()),
                    "recall": recall,
                    "expected_recall": float(p[mask & alert].sum() / mass) if mass > 0 else float("nan"),
                    "overall_recall": overall,
                    "flagged": flagged,
                }
            )
    columns = [
        "attribute", "group", "n", "with_outcome", "positives", "alerted_share", "recall",
        "expected_recall", "overall_recall", "flagged",
    ]  # fmt: skip
    return pd.DataFrame(out, columns=columns)


# --------------------------------------------------------------------------------------------------------
# Groups of a record


def record_groups(model: object, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The groups of each record: "departement" (from the contract's commune field) and "naf_section" (from
    its NAF field) when the contract has them, as text (None when missing or unknown), plus the model's own
    groups when it has `report_groups(rows)` (those of its model card)."""
    contract: InputContract = getattr(model, "input_contract")  # noqa: B009 (any model object)
    out: dict[str, np.ndarray] = {}
    fields = {f.code: f.name for f in contract.fields if f.code is not None}
    empty = pd.Series([None] * len(rows), dtype=object)
    if "commune" in fields:
        name = fields["commune"]
        out["departement"] = departement(rows.get(name, empty)).to_numpy(dtype=object)
    if "naf" in fields:
        name = fields["naf"]
        division = naf_division(rows.get(name, empty))
        out["naf_section"] = np.array([NAF_SECTIONS.get(d) if d else None for d in division], dtype=object)
    own = getattr(model, "report_groups", None)
    if callable(own):
        out.update({str(k): np.asarray(v, dtype=object) for k, v in own(rows).items()})
    return out
