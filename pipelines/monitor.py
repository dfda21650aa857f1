"""The monitoring report of a served model (issue 16: closing the loop on the models' scores).

From the predictions the service kept (`service.monitoring.MonitoringStore.predictions`) and the outcomes
joined to them, `monitoring_figures` computes the tables of the report: the champion's realized AUC (with
its Hanley-McNeil standard error) next to the AUC its calibrated scores promised (CBPE) per month and
version, the performance by département and NAF section, the capture of the top scores, the drift of the
latest version's inputs against its reference profile, the groups of its model card, the agreement of a
shadow challenger. `render_report` writes them as one self-contained French HTML page (plots inline as
PNG data URIs, no external resource, no script) and `log_monitoring_run` logs it all as an MLflow run of
the `cma-monitoring` experiment, where the service's admin page finds it.

Also the pure rules of the `outcomes` command: reading an outcomes file (`outcome_rows`) and deriving
outcomes from the next extract of events (`event_outcomes`).

Everything is pure but `log_monitoring_run` (MLflow): the command reads the store and writes the files.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from models.fairness import MIN_GROUP_SIZE
from models.monitoring import (
    DriftThresholds,
    ReferenceProfile,
    capture_table,
    drift_alerts,
    drift_table,
    performance_table,
    recall_at_alert,
)
from service.monitoring import ACTIONS, PREDICTION_ID_PATTERN

EXPERIMENT = "cma-monitoring"
MODEL_TAG = "cma.monitoring.model"
PERIOD_TAG = "cma.monitoring.period"
REPORT_ARTIFACT = "report.html"
DRIFT_WINDOW = 5_000

BASE_COLUMNS = frozenset(
    {
        "prediction_id", "role", "model", "version", "scored_at", "as_of", "period", "probability",
        "band", "score_bin", "bins", "groups", "source", "outcome", "outcome_date", "action",
    }
)  # fmt: skip
PLACE_GROUPS = ("departement", "naf_section")


@dataclass
class MonitoringFigures:
    """The tables of one monitoring report (each a DataFrame, empty when it cannot be computed; `notes`
    say why, in French)."""

    since: str
    until: str
    rows: int
    overall: pd.DataFrame
    by_period: pd.DataFrame
    by_period_version: pd.DataFrame
    by_departement: pd.DataFrame
    by_naf_section: pd.DataFrame
    capture: pd.DataFrame
    drift: pd.DataFrame
    drift_version: str | None
    alerts: list[str]
    groups: pd.DataFrame
    challenger: pd.DataFrame
    challenger_performance: pd.DataFrame
    unmatched_outcomes: int
    notes: list[str] = field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name (what is logged as JSON)."""
        return {
            "overall": self.overall,
            "by_period": self.by_period,
            "by_period_version": self.by_period_version,
            "by_departement": self.by_departement,
            "by_naf_section": self.by_naf_section,
            "capture": self.capture,
            "drift": self.drift,
            "groups": self.groups,
            "challenger": self.challenger,
            "challenger_performance": self.challenger_performance,
        }


def _latest_version(champion: pd.DataFrame) -> str | None:
    """The version of the latest champion row (the store's rows come in insertion order)."""
    if champion.empty:
        return None
    ordered = champion.sort_values("scored_at", kind="stable")
    return str(ordered["version"].iloc[-1])


def parse_bins(values: pd.Series, features: int) -> np.ndarray:
    """The `bins` texts of the store ("3,0,11") as a rows x features matrix; rows whose bins are missing or
    of another profile (another count of features) are left out."""
    parsed = [
        [int(b) for b in str(v).split(",")]
        for v in values
        if isinstance(v, str) and v and v.count(",") + 1 == features
    ]
    return np.array(parsed, dtype=np.int64).reshape(len(parsed), features)


def _drift(
    champion: pd.DataFrame,
    version: str | None,
    profile: ReferenceProfile | None,
    thresholds: DriftThresholds,
    window: int,
) -> tuple[pd.DataFrame, list[str], list[str]]:
    empty = pd.DataFrame(columns=["feature", "psi", "threshold", "rows", "drifted", "top_change"])
    if profile is None:
        return empty, [], [f"Pas de section dérive : la version {version} n'a pas de profil de référence."]
    rows = champion[(champion["version"].astype(str) == str(version)) & champion["bins"].notna()]
    rows = rows.sort_values("scored_at", kind="stable").tail(window)
    n = len(profile.features)
    usable = rows[rows["bins"].map(lambda v: isinstance(v, str) and bool(v) and v.count(",") + 1 == n)]
    usable = usable[usable["score_bin"].notna()]
    features = parse_bins(usable["bins"], n)
    scores = usable["score_bin"].astype(int).to_numpy()
    table = drift_table(profile, features, scores, thresholds)
    notes = []
    if len(usable) < thresholds.min_rows:
        notes.append(
            f"Dérive non jugée : {len(usable)} enregistrements de la version {version} "
            f"(il en faut {thresholds.min_rows})."
        )
    return table, drift_alerts(table), notes


def group_columns(predictions: pd.DataFrame) -> list[str]:
    """The group columns of the store's rows (the keys of their `groups`), but département and NAF
    section, which have their own tables."""
    return [c for c in predictions.columns if c not in BASE_COLUMNS and c not in PLACE_GROUPS]


SMALL_GROUP = MIN_GROUP_SIZE
"""A group with fewer outcomes than this shows its counts only: its rates could be one person's outcome."""
# What a small group does not show (the columns of `performance_table` and `recall_at_alert` that hold
# outcomes or rates).
HIDDEN_IN_SMALL_GROUPS = (
    "positives", "observed_rate", "mean_score", "roc_auc", "auc_se", "brier", "calibration_gap",
    "recall", "expected_recall", "alerted_share",
)  # fmt: skip


def small_groups_hidden(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with the outcome figures of every group under `SMALL_GROUP` outcomes blanked and said so
    (`note`): the report and its MLflow tables are read by many, a group of a few is a few people."""
    if table.empty or "with_outcome" not in table:
        return table
    small = table["with_outcome"].fillna(0) < SMALL_GROUP
    out = table.copy()
    for column in HIDDEN_IN_SMALL_GROUPS:
        if column in out:
            out[column] = out[column].astype(float).where(~small)
    out["note"] = np.where(small, f"moins de {SMALL_GROUP} résultats : taux non publiés", "")
    return out


def _groups(champion: pd.DataFrame, profile: ReferenceProfile | None) -> pd.DataFrame:
    columns = group_columns(champion)
    if not columns or champion.empty:
        return pd.DataFrame()
    if profile is not None and profile.alert_threshold is not None:
        return small_groups_hidden(recall_at_alert(champion, profile.alert_threshold, columns))
    parts = []
    for column in columns:
        frame = champion.assign(group=champion[column].astype(object).where(champion[column].notna(), None))
        table = performance_table(frame.assign(group=frame["group"].fillna("(inconnu)")), by=["group"])
        parts.append(table.assign(attribute=column))
    out = small_groups_hidden(pd.concat(parts, ignore_index=True))
    return out[["attribute", *[c for c in out.columns if c != "attribute"]]]


def _challenger(
    champion: pd.DataFrame, challenger: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    if challenger.empty:
        return pd.DataFrame(), pd.DataFrame(), []
    joined = champion.merge(challenger, on="prediction_id", suffixes=("", "_challenger"))
    if joined.empty:
        return pd.DataFrame(), pd.DataFrame(), ["Challenger : aucune prédiction commune avec le champion."]
    p, q = joined["probability"].astype(float), joined["probability_challenger"].astype(float)
    spearman = float(p.rank().corr(q.rank())) if len(joined) > 1 else float("nan")
    bands = joined[joined["band"].notna() & joined["band_challenger"].notna()]
    bins = joined[joined["score_bin"].notna() & joined["score_bin_challenger"].notna()]
    agreement = pd.DataFrame(
        [
            {
                "challenger_version": ", ".join(sorted(joined["version_challenger"].astype(str).unique())),
                "rows": len(joined),
                "spearman": spearman,
                "band_changed_share": float((bands["band"] != bands["band_challenger"]).mean())
                if len(bands)
                else float("nan"),
                "decile_changed_share": float(
                    (bins["score_bin"].astype(int) != bins["score_bin_challenger"].astype(int)).mean()
                )
                if len(bins)
                else float("nan"),
            }
        ]
    )
    known = joined[joined["outcome"].notna()]
    both = pd.concat(
        [
            performance_table(known[["probability", "outcome"]]).assign(role="champion"),
            performance_table(
                known[["probability_challenger", "outcome"]].rename(
                    columns={"probability_challenger": "probability"}
                )
            ).assign(role="challenger"),
        ],
        ignore_index=True,
    )
    both = both[["role", "with_outcome", "roc_auc", "auc_se", "expected_auc", "brier"]]
    return agreement, both, []


def monitoring_figures(
    predictions: pd.DataFrame,
    profile: ReferenceProfile | None,
    thresholds: DriftThresholds = DriftThresholds(),
    *,
    since: str = "",
    until: str = "",
    unmatched_outcomes: int = 0,
    window: int = DRIFT_WINDOW,
) -> MonitoringFigures:
    """The tables of the report of one model's predictions (`MonitoringStore.predictions`).

    Champion rows: performance overall, per period (month) and per period x version, by département and
    NAF section (realized where outcomes are known, expected on every row); the capture of the top 10 %,
    20 %, ... 100 % of the rows with an outcome (realized `captured` and calibrated `expected_capture`,
    plus `expected_capture_all` on every row); the drift of the latest `window` rows of the latest version
    against `profile` (its profile; None: no drift section, said in `notes`); the model card's groups
    (recall at the alert threshold when the profile has one, else performance by group). Challenger rows
    (same prediction ids): rank agreement, band and decile changes, both AUCs on the rows with outcomes.
    """
    champion = predictions[predictions["role"] == "champion"].reset_index(drop=True)
    challenger = predictions[predictions["role"] == "challenger"].reset_index(drop=True)
    notes: list[str] = []
    if champion.empty:
        raise ValueError("aucune prédiction du champion sur la période")
    champion = champion.assign(
        probability=champion["probability"].astype(float),
        outcome=pd.to_numeric(champion["outcome"], errors="coerce"),
        version=champion["version"].astype(str),
    )
    version = _latest_version(champion)
    by_place = {
        column: small_groups_hidden(
            performance_table(champion.assign(**{column: champion[column].fillna("(inconnu)")}), by=[column])
        )
        if column in champion
        else pd.DataFrame()
        for column in PLACE_GROUPS
    }
    known = champion[champion["outcome"].notna()]
    p_all = champion["probability"].to_numpy(dtype=float)
    if len(known):
        capture = capture_table(
            known["outcome"].to_numpy(dtype=float), known["probability"].to_numpy(dtype=float)
        )
        capture["expected_capture_all"] = capture_table(None, p_all)["expected_capture"].to_numpy()
    else:
        capture = capture_table(None, p_all)
        notes.append("Aucun résultat connu : la capture réalisée n'est pas encore mesurable.")
    drift, alerts, drift_notes = _drift(champion, version, profile, thresholds, window)
    notes.extend(drift_notes)
    agreement, challenger_performance, challenger_notes = _challenger(champion, challenger)
    notes.extend(challenger_notes)
    if unmatched_outcomes:
        notes.append(f"{unmatched_outcomes} résultat(s) reçu(s) sans prédiction correspondante.")
    return MonitoringFigures(
        since=since,
        until=until,
        rows=len(champion),
        overall=performance_table(champion),
        by_period=performance_table(champion, by=["period"]),
        by_period_version=performance_table(champion, by=["period", "version"]),
        by_departement=by_place["departement"],
        by_naf_section=by_place["naf_section"],
        capture=capture,
        drift=drift,
        drift_version=version,
        alerts=alerts,
        groups=_groups(champion, profile),
        challenger=agreement,
        challenger_performance=challenger_performance,
        unmatched_outcomes=unmatched_outcomes,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------------------
# The HTML report

STYLE = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1c2434}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{border:1px solid #ccd;padding:.2rem .5rem}
th{background:#eef}td.n{text-align:right}.alerte{color:#a00;font-weight:bold}img{max-width:100%}"""

LABELS = {
    "period": "mois",
    "version": "version",
    "rows": "lignes",
    "with_outcome": "avec résultat",
    "positives": "positifs",
    "observed_rate": "taux observé",
    "mean_score": "score moyen (avec résultat)",
    "expected_auc": "AUC attendue",
    "expected_positive_rate": "taux attendu",
    "roc_auc": "AUC réalisée",
    "auc_se": "erreur type AUC",
    "brier": "Brier",
    "calibration_gap": "écart de calibration",
    "share": "part des scores les plus hauts",
    "expected_capture": "capture attendue",
    "expected_capture_all": "capture attendue (toutes lignes)",
    "captured": "capture réalisée",
    "lift": "lift",
    "feature": "variable",
    "psi": "PSI",
    "threshold": "seuil",
    "drifted": "dérive",
    "top_change": "plus forte variation",
    "departement": "département",
    "naf_section": "section NAF",
    "attribute": "attribut",
    "group": "groupe",
    "n": "lignes",
    "alerted_share": "part alertée",
    "recall": "rappel",
    "expected_recall": "rappel attendu",
    "overall_recall": "rappel global",
    "flagged": "écart signalé",
    "challenger_version": "version du challenger",
    "spearman": "corrélation de rang (Spearman)",
    "band_changed_share": "part de niveaux changés",
    "decile_changed_share": "part de déciles changés",
    "role": "rôle",
}


def _cell(value: Any) -> tuple[str, bool]:
    """A table cell as escaped French text, and whether it is a number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "", False
    if isinstance(value, bool | np.bool_):
        return ("oui" if value else "non"), False
    if isinstance(value, int | np.integer):
        return f"{int(value):,}".replace(",", "\u202f"), True
    if isinstance(value, float | np.floating):
        return f"{float(value):.3f}".replace(".", ","), True
    return escape(str(value)), False


def html_table(frame: pd.DataFrame) -> str:
    """A frame as an HTML table, every text escaped, French column labels."""
    if frame.empty:
        return "<p>Aucune donnée.</p>"
    head = "".join(f"<th>{escape(LABELS.get(str(c), str(c)))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = [_cell(v) for v in row]
        body.append(
            "<tr>" + "".join(f'<td class="n">{t}</td>' if n else f"<td>{t}</td>" for t, n in cells) + "</tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{data}">'


def auc_figure(by_period: pd.DataFrame) -> Any:
    """Realized AUC per month with its ±2 standard errors, and the expected (CBPE) AUC."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(len(by_period))
    realized = by_period["roc_auc"].to_numpy(dtype=float)
    se = by_period["auc_se"].to_numpy(dtype=float)
    ax.errorbar(x, realized, yerr=2 * np.nan_to_num(se), fmt="o-", capsize=3, label="AUC réalisée (± 2 ET)")
    ax.plot(x, by_period["expected_auc"].to_numpy(dtype=float), "s--", label="AUC attendue (CBPE)")
    ax.set_xticks(x, [str(p) for p in by_period["period"]], rotation=45)
    ax.set(ylabel="AUC", title="AUC par mois")
    ax.legend()
    return fig


def capture_figure(capture: pd.DataFrame) -> Any:
    """The capture curve: realized against expected."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(5, 4))
    share = np.concatenate([[0.0], capture["share"].to_numpy(dtype=float)])
    if "captured" in capture:
        ax.plot(
            share, np.concatenate([[0.0], capture["captured"].to_numpy(dtype=float)]), "o-", label="réalisée"
        )
    ax.plot(
        share,
        np.concatenate([[0.0], capture["expected_capture"].to_numpy(dtype=float)]),
        "s--",
        label="attendue",
    )
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    ax.set(xlabel="part des scores les plus hauts", ylabel="part des positifs", title="Capture")
    ax.legend()
    return fig


def psi_figure(drift: pd.DataFrame) -> Any:
    """PSI per input (and the scores), with the alert threshold."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.3 * len(drift))))
    values = np.nan_to_num(drift["psi"].to_numpy(dtype=float))
    colours = ["#a00" if d else "#3a6ea5" for d in drift["drifted"].astype(bool)]
    ax.barh([str(f) for f in drift["feature"]], values, color=colours)
    ax.axvline(float(drift["threshold"].iloc[0]), color="#a00", linestyle="--", label="seuil")
    ax.invert_yaxis()
    ax.set(xlabel="PSI", title="Dérive par variable")
    ax.legend()
    return fig


def _headline(figures: MonitoringFigures) -> dict[str, float]:
    row = figures.overall.iloc[0]
    realized, expected = float(row["roc_auc"]), float(row["expected_auc"])
    return {
        "realized_auc": realized,
        "expected_auc": expected,
        "expected_minus_realized": expected - realized,
    }


def render_report(figures: MonitoringFigures, model: str, period: str) -> str:
    """The report as one self-contained French HTML page: no external resource, no script, plots inline
    (PNG data URIs), every text escaped."""
    head = _headline(figures)
    alerts = (
        "<ul>" + "".join(f'<li class="alerte">{escape(a)}</li>' for a in figures.alerts) + "</ul>"
        if figures.alerts
        else "<p>Aucune alerte de dérive.</p>"
    )
    notes = "".join(f"<p>{escape(n)}</p>" for n in figures.notes)
    summary = pd.DataFrame(
        [
            {
                "lignes": figures.rows,
                "avec résultat": int(figures.overall["with_outcome"].iloc[0]),
                "AUC réalisée": head["realized_auc"],
                "AUC attendue": head["expected_auc"],
                "attendue - réalisée": head["expected_minus_realized"],
                "résultats non reliés": figures.unmatched_outcomes,
            }
        ]
    )
    sections = [
        f"<h1>Suivi du modèle {escape(model)} — période {escape(period)}</h1>",
        "<h2>Synthèse</h2>",
        html_table(summary),
        alerts,
        notes,
        "<h2>Performance par mois</h2>",
        _png(auc_figure(figures.by_period)) if len(figures.by_period) else "",
        html_table(figures.by_period),
        "<h3>Par mois et par version</h3>",
        html_table(figures.by_period_version),
        "<h2>Capture des scores les plus hauts</h2>",
        _png(capture_figure(figures.capture)),
        html_table(figures.capture),
        f"<h2>Dérive des entrées (version {escape(str(figures.drift_version))})</h2>",
        _png(psi_figure(figures.drift)) if len(figures.drift) else "",
        html_table(figures.drift),
        "<h2>Par département</h2>",
        html_table(figures.by_departement),
        "<h2>Par section NAF</h2>",
        html_table(figures.by_naf_section),
        "<h2>Groupes de la fiche du modèle</h2>",
        html_table(figures.groups),
        "<h2>Challenger</h2>",
        html_table(figures.challenger),
        html_table(figures.challenger_performance) if len(figures.challenger_performance) else "",
    ]
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>Suivi {escape(model)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>"
    )


# --------------------------------------------------------------------------------------------------------
# MLflow


def _records(frame: pd.DataFrame) -> dict[str, Any]:
    """A frame as strict JSON (NaN as null)."""
    clean = frame.astype(object).where(frame.notna(), None)
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": json.loads(json.dumps(clean.to_dict("records"), default=str)),
    }


def monitoring_metrics(figures: MonitoringFigures) -> dict[str, float]:
    """The run's headline metrics (finite ones only)."""
    metrics = _headline(figures)
    drift = figures.drift
    if len(drift):
        metrics["max_psi"] = float(np.nanmax(drift["psi"].to_numpy(dtype=float)))
        metrics["drifted_features"] = float(drift["drifted"].astype(bool).sum())
    metrics["rows"] = float(figures.rows)
    metrics["with_outcome"] = float(figures.overall["with_outcome"].iloc[0])
    metrics["unmatched_outcomes"] = float(figures.unmatched_outcomes)
    if len(figures.challenger):
        row = figures.challenger.iloc[0]
        metrics["challenger_spearman"] = float(row["spearman"])
        metrics["challenger_band_changed_share"] = float(row["band_changed_share"])
        metrics["challenger_decile_changed_share"] = float(row["decile_changed_share"])
        perf = figures.challenger_performance
        own = perf[perf["role"] == "challenger"]
        metrics["challenger_realized_auc"] = float(own["roc_auc"].iloc[0])
        metrics["challenger_expected_auc"] = float(own["expected_auc"].iloc[0])
    return {k: v for k, v in metrics.items() if np.isfinite(v)}


def log_monitoring_run(
    figures: MonitoringFigures, html: str, model: str, period: str, home: Any = None
) -> str:
    """Log the report as a run of the `cma-monitoring` experiment (tracking configured by the caller):
    tags model and period, the headline metrics, the monthly AUCs (`step` = month index, the months in
    `tables/by_period.json`), `report.html` and every table as JSON. Returns the run id."""
    import mlflow

    from pipelines.tracking import ensure_experiment

    experiment_id = ensure_experiment(EXPERIMENT, home)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{model} {period}") as run:
        mlflow.set_tags(
            {MODEL_TAG: model, PERIOD_TAG: period, "cma.monitoring.alerts": str(len(figures.alerts))}
        )
        mlflow.log_metrics(monitoring_metrics(figures))
        for step, row in enumerate(figures.by_period.itertuples(index=False)):
            for name in ("roc_auc", "expected_auc"):
                value = float(getattr(row, name))
                if np.isfinite(value):
                    label = "monthly_realized_auc" if name == "roc_auc" else "monthly_expected_auc"
                    mlflow.log_metric(label, value, step=step)
        mlflow.log_text(html, REPORT_ARTIFACT)
        for name, table in figures.tables().items():
            mlflow.log_dict(_records(table), f"tables/{name}.json")
        mlflow.log_dict({"alerts": figures.alerts, "notes": figures.notes}, "alerts.json")
        return str(run.info.run_id)


# --------------------------------------------------------------------------------------------------------
# Outcome files

PREDICTION_ID = re.compile(PREDICTION_ID_PATTERN)
TRUE = frozenset({"1", "true", "vrai", "oui", "yes", "o", "y"})
FALSE = frozenset({"0", "false", "faux", "non", "no", "n"})
OUTCOME_ACTIONS = ACTIONS


def parse_day(value: Any) -> date | None:
    """An ISO (`2026-03-31`) or French (`31/03/2026`) date, None when it is neither."""
    text = "" if value is None else str(value).strip()
    for pattern, order in ((r"(\d{4})-(\d{2})-(\d{2})", (0, 1, 2)), (r"(\d{2})/(\d{2})/(\d{4})", (2, 1, 0))):
        found = re.fullmatch(pattern, text[:10] if order == (0, 1, 2) else text)
        if found:
            parts = found.groups()
            try:
                return date(int(parts[order[0]]), int(parts[order[1]]), int(parts[order[2]]))
            except ValueError:
                return None
    return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def outcome_rows(
    raw: pd.DataFrame, id_column: str | None, source: str
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """The valid outcomes of a file read as text (`prediction_id`, or `id_column`: the identifier as
    scored; `outcome` 1/0, true/false, oui/non; `outcome_date` ISO or DD/MM/YYYY; optional `action`), and
    one error row (file, row, field, reason: never the value) per problem. `row` is the line of the file
    (the header is line 1)."""
    errors: list[dict[str, Any]] = []
    by_id = "prediction_id" in raw.columns
    reference = "prediction_id" if by_id else id_column
    missing = [c for c in (reference, "outcome", "outcome_date") if c is None or c not in raw.columns]
    if missing:
        names = ", ".join(c or "identifiant (prediction_id ou --id-column)" for c in missing)
        raise ValueError(f"{source} : colonne(s) absente(s) : {names}")
    assert reference is not None
    valid = []
    for i, record in enumerate(raw.to_dict("records")):
        line = i + 2
        problems = []
        ref = record.get(reference)
        if _blank(ref):
            problems.append((reference, "valeur manquante"))
        elif by_id and not PREDICTION_ID.fullmatch(str(ref).strip()):
            problems.append(
                (
                    reference,
                    "identifiant de prédiction mal formé (p-<16 caractères a-z ou 2-7>-<4 à 6 lettres>)",
                )
            )
        elif not by_id and len(str(ref).strip()) > 64:
            problems.append((reference, "identifiant trop long (64 caractères au plus)"))
        given = "" if _blank(record.get("outcome")) else str(record["outcome"]).strip().lower()
        outcome = 1 if given in TRUE else 0 if given in FALSE else None
        if outcome is None:
            problems.append(("outcome", "résultat attendu : 1/0, true/false ou oui/non"))
        day = parse_day(record.get("outcome_date"))
        if day is None:
            problems.append(("outcome_date", "date attendue : AAAA-MM-JJ ou JJ/MM/AAAA"))
        action = None if _blank(record.get("action")) else str(record["action"]).strip()
        if action is not None and action not in OUTCOME_ACTIONS:
            problems.append(("action", "action inconnue (attendu : " + ", ".join(OUTCOME_ACTIONS) + ")"))
        if problems:
            errors.extend({"file": source, "row": line, "field": f, "reason": r} for f, r in problems)
            continue
        key = "prediction_id" if by_id else "record_id"
        assert day is not None
        valid.append(
            {key: str(ref).strip(), "outcome": outcome, "outcome_date": day.isoformat(), "action": action}
        )
    return valid, pd.DataFrame(errors, columns=["file", "row", "field", "reason"])


def event_outcomes(
    predictions: pd.DataFrame,
    events: pd.DataFrame,
    horizon_days: int,
    as_of: date,
    terminal: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """Outcomes derived from an extract of events (a contract start by SIRET, a rupture by contract id).

    `predictions`: `prediction_id`, `record_key`, `day` (ISO: the record's as-of date, else its scoring
    date); `events`: `record_key`, `event_date` (date). The rule, for every prediction with a key:
    - outcome 1 (dated the first such event) when an event of its record falls within
      (day, day + `horizon_days`];
    - else outcome 0 (dated day + `horizon_days`) when day + `horizon_days` <= `as_of` (the extract covers
      the whole horizon and holds no event);
    - else pending: not decided yet, counted (the second value).
    With `terminal` (the event ends the record: a rupture ends the contract), a record whose event came on
    or before its scoring date was not running when it was scored: left out, counted with the pending
    (without it, as for the contracts a company took, an earlier event is history and changes nothing).
    """
    by_key: dict[str, list[date]] = {}
    for key, day in zip(events["record_key"], events["event_date"], strict=True):
        if not _blank(key):
            by_key.setdefault(str(key), []).append(day)
    out, pending = [], 0
    for pid, key, text in zip(
        predictions["prediction_id"], predictions["record_key"], predictions["day"], strict=True
    ):
        start = parse_day(text)
        if _blank(key) or start is None:
            continue
        end = start + timedelta(days=horizon_days)
        if terminal and any(d <= start for d in by_key.get(str(key), [])):
            pending += 1
            continue
        within = sorted(d for d in by_key.get(str(key), []) if start < d <= end)
        if within:
            out.append(
                {
                    "prediction_id": str(pid),
                    "outcome": 1,
                    "outcome_date": within[0].isoformat(),
                    "action": None,
                }
            )
        elif end <= as_of:
            out.append(
                {"prediction_id": str(pid), "outcome": 0, "outcome_date": end.isoformat(), "action": None}
            )
        else:
            pending += 1
    return out, pending
