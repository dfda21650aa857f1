"""The extract path as a data scientist expects it: identifier optional, a cross-validated retrain compared
with the champion on rows neither was trained on, numeric sensitive attributes banded, the card written
from the extract's own config, bands by capacity, probability or both."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from models.dropout_risk.model import RiskBandPolicy, band_thresholds
from models.extract import TARGET, group_values
from pipelines.reference import DATA_SAMPLES
from pipelines.runner import load_family_config, train_model
from pipelines.tracking import configure_tracking

pytestmark = pytest.mark.slow
EXAMPLE = DATA_SAMPLES / "dropout_risk" / "extract_example.csv"
CONFIG = DATA_SAMPLES / "dropout_risk" / "extract_example.yaml"
FEATURES = (
    'columns.numeric=["Âge", "Absences 6 premières semaines", "Retards", "Moyenne évaluations", '
    '"Distance domicile-entreprise (km)"]'
)


def _train(folder: Path, *overrides: str) -> object:
    config = load_family_config("dropout_risk_extract", CONFIG, [f"data={EXAMPLE}", *overrides])
    _, (result,) = train_model("dropout_risk_extract", config, folder)
    return result


def test_cross_validated_retrain_is_compared_on_rows_neither_was_trained_on(mlflow_home: Path) -> None:
    configure_tracking()
    # The comparison with the champion is what is tested: the gates that would keep the weak first version
    # (AUC 0.53) off champion, and the strong one (another top decile) from replacing it, are opened.
    cv = [
        "evaluation.split=cv",
        "columns.date=null",
        "columns.date_format=null",
        "gates.min_auc=0.5",
        "gates.min_top_decile_overlap=0",
        "gates.max_score_shift=1",
    ]
    weak = _train(mlflow_home, *cv, 'columns.categorical=["Taille entreprise"]', "columns.numeric=[]")
    assert weak.decision.promoted and weak.decision.reason == "no champion yet"
    strong = _train(mlflow_home, *cv, FEATURES)
    assert strong.decision.promoted, strong.decision.reason
    assert "beats champion v1" in strong.decision.reason
    assert strong.decision.champion_score == pytest.approx(weak.metrics["holdout_roc_auc"], abs=1e-9)
    again = _train(mlflow_home, *cv, 'columns.categorical=["Taille entreprise"]', "columns.numeric=[]")
    assert not again.decision.promoted and "does not beat champion v2" in again.decision.reason
    card = mlflow.MlflowClient().get_model_version("dropout_risk_cfa_exemple", "2").description
    assert "cross-validation" in card and "held out by a stable hash of the identifier" in card


def test_without_identifier_the_line_stands_in_and_the_card_says_so(mlflow_home: Path) -> None:
    configure_tracking()
    result = _train(
        mlflow_home,
        "columns.identifier=null",
        'columns.sensitive=["Sexe", "QPV", "Âge"]',
        'columns.numeric=["Absences 6 premières semaines", "Retards", "Moyenne évaluations"]',
        "card.population=apprentis du CFA exemple, contrats 2019-2023",
        "card.horizon=avant la fin prévue du contrat",
    )
    card = (
        mlflow.MlflowClient()
        .get_model_version("dropout_risk_cfa_exemple", result.decision.version)
        .description
    )
    assert "no identifier column: rows are numbered by their line in the file" in card
    assert "apprentis du CFA exemple, contrats 2019-2023" in card
    assert "avant la fin prévue du contrat" in card
    assert "0 weeks" not in card and "Sensitive attributes (Sexe, QPV, Âge)" in card
    assert "| Âge | 18-19 |" in card and "| Âge | 25 |" not in card, "ages are banded, not one group each"
    assert "Bands set by capacity" in card and "and by probability" in card, "the example bands by both"


def test_numeric_groups_are_banded_by_config_or_quartiles() -> None:
    frame = pd.DataFrame({"Âge": [str(a) for a in range(15, 40)], "km": [f"{k},5" for k in range(25)]})
    ages = group_values(frame, "Âge")
    assert set(ages) == {"15-17", "18-19", "20-25", "26+"}
    assert set(group_values(frame, "Âge", [18, 21])) == {"< 18", "18 - < 21", ">= 21"}
    assert len(set(group_values(frame, "km"))) == 4, "quartiles"
    assert list(group_values(pd.DataFrame({"g": ["a", "b", None]}), "g")) == ["a", "b", None]


def test_bands_by_capacity_probability_or_both() -> None:
    scores = np.r_[np.full(90, 0.95), np.linspace(0.0, 0.2, 10)]  # a cohort where almost everyone is at risk
    capacity = band_thresholds(scores, RiskBandPolicy())
    assert capacity[1] == pytest.approx(0.95), "by capacity, 0.944 would not be 'élevé'"
    fixed = band_thresholds(scores, RiskBandPolicy(method="probability"))
    assert fixed == (0.3, 0.5)
    both = band_thresholds(scores, RiskBandPolicy(method="both"))
    assert both == (min(capacity[0], 0.3), 0.5)
    with pytest.raises(ValueError, match="probability_thresholds"):
        RiskBandPolicy(probability_thresholds={"modéré": 0.6, "élevé": 0.4})


def test_the_target_column_is_never_needed_to_score(mlflow_home: Path) -> None:
    configure_tracking()
    result = _train(mlflow_home)
    raw = pd.read_csv(EXAMPLE, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig").head(20)
    without = raw.drop(columns=["Issue du contrat", "Sexe", "QPV"])
    assert TARGET not in without
    np.testing.assert_array_equal(
        result.model.score(without)["probability"], result.model.score(raw)["probability"]
    )
