"""Production monitoring figures: reference profile, drift, expected and realized performance, groups."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.dropout_risk.model import DropoutModel, RiskBandPolicy
from models.extract import ColumnRoles, ExtractFeatureBuilder, TargetSpec
from models.interface import InputContract, InputField, date_field
from models.monitoring import (
    NAF_SECTIONS,
    DriftThresholds,
    FeatureBins,
    ReferenceProfile,
    auc_standard_error,
    capture_table,
    departement,
    drift_alerts,
    drift_table,
    expected_auc,
    naf_division,
    performance_table,
    psi,
    recall_at_alert,
    record_groups,
    reference_profile,
)

CONTRACT = InputContract(
    fields=(
        InputField("contract_id", "text"),
        InputField("siret", "text", code="siret"),
        date_field("contract_start", "start"),
        InputField("diploma", "text", allowed=("CAP", "BP", "BTS")),
        InputField("naf_code", "text", code="naf"),
        InputField("commune", "text", code="commune"),
        InputField("trade", "text"),
        InputField("age", "int"),
        InputField("distance_km", "float"),
    ),
    id_field="contract_id",
)
DIPLOMA_P = [0.5, 0.3, 0.2]
NAF = ["43.22A", "4322B", "47.11F", "56.10A", "96.02A", "10.71C"]
NAF_P = [0.12, 0.08, 0.3, 0.25, 0.15, 0.1]
COMMUNES = ["75056", "69123", "2A004", "97411", "13055"]
TRADES = [f"métier {k}" for k in range(30)]


def simulate(
    n: int, rng: np.random.Generator, naf_p: list[float] = NAF_P, age_shift: float = 0.0
) -> pd.DataFrame:
    """Rows of `CONTRACT` drawn from a fixed distribution (NAF weights and age shift as given)."""
    trade_p = np.arange(30, 0, -1) / np.arange(30, 0, -1).sum()
    distance = rng.exponential(15, n)
    distance[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "contract_id": [f"C{k}" for k in range(n)],
            "siret": ["35600000000048"] * n,
            "contract_start": ["2024-09-02"] * n,
            "diploma": rng.choice(["CAP", "BP", "BTS"], n, p=DIPLOMA_P),
            "naf_code": rng.choice(NAF, n, p=naf_p),
            "commune": rng.choice(COMMUNES, n),
            "trade": rng.choice(TRADES, n, p=trade_p),
            "age": np.round(rng.normal(19 + 2.5 * age_shift, 2.5, n)),
            "distance_km": distance,
        }
    )


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    rng = np.random.default_rng(0)
    rows = simulate(10_000, rng)
    return reference_profile(CONTRACT, rows, rng.beta(2, 8, len(rows)), alert_threshold=0.4)


# -- reference profile ----------------------------------------------------------------------------------


def test_profile_skips_identifier_dates_and_siret_and_picks_transforms(profile: ReferenceProfile) -> None:
    names = [f.name for f in profile.features]
    assert names == ["diploma", "naf_code", "commune", "trade", "age", "distance_km"]
    by = {f.name: f for f in profile.features}
    assert by["diploma"].categories == ("CAP", "BP", "BTS")
    assert by["naf_code"].transform == "naf_division"
    assert set(by["naf_code"].categories) == {"43", "47", "56", "96", "10"}
    assert by["commune"].transform == "departement"
    assert set(by["commune"].categories) == {"75", "69", "2A", "974", "13"}
    trades = by["trade"].categories
    assert len(trades) == 20 and {"métier 0", "métier 1"} <= set(trades) and "métier 29" not in trades
    assert by["age"].kind == "numeric" and 0 < len(by["age"].edges) <= 9
    assert len(profile.score.edges) == 9
    for f in (*profile.features, profile.score):
        assert sum(f.shares) == pytest.approx(1.0)
        assert len(f.shares) == len(f.labels())
    assert by["distance_km"].shares[-1] == pytest.approx(0.05, abs=0.01)  # the missing share
    assert profile.rows == 10_000 and profile.alert_threshold == 0.4


def test_profile_round_trips_through_json(profile: ReferenceProfile) -> None:
    back = ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert back == profile


def test_numeric_bins_and_labels() -> None:
    bins = FeatureBins("x", "numeric", (3.0, 7.0), (), (0.2, 0.5, 0.2, 0.1))
    assert bins.labels() == ["<= 3", "3 - 7", "> 7", "manquant"]
    values = [1, 3, 3.5, "7", "7,5", None, "abc", np.nan, 100]
    assert bins.bin(values).tolist() == [0, 0, 1, 1, 2, 3, 3, 3, 2]


def test_category_bins_apply_the_transform() -> None:
    bins = FeatureBins("naf", "category", (), ("43", "47"), (0.4, 0.4, 0.1, 0.1), "naf_division")
    assert bins.labels() == ["43", "47", "autre", "manquant"]
    assert bins.bin(["43.22A", "4322A", " 47.11F ", "96.02A", None, ""]).tolist() == [0, 0, 1, 2, 3, 3]
    assert naf_division(["43.22A", "x", None]).tolist() == ["43", None, None]
    assert departement(["75056", "2A004", "2b033", "97411", "97611", None]).tolist() == [
        "75",
        "2A",
        "2B",
        "974",
        "976",
        None,
    ]


def test_category_bins_read_whole_numbers_as_text() -> None:
    bins = FeatureBins("level", "category", (), ("3", "4"), (0.5, 0.5, 0.0, 0.0))
    assert bins.bin(pd.Series([3.0, 4.0, 5.0, np.nan])).tolist() == [0, 1, 2, 3]
    assert bins.bin([3, "4", 4.0, None]).tolist() == [0, 1, 1, 3]


def test_feature_bins_refuse_inconsistent_definitions() -> None:
    with pytest.raises(ValueError, match="shares"):
        FeatureBins("x", "numeric", (1.0,), (), (0.5, 0.5))
    with pytest.raises(ValueError, match="increasing"):
        FeatureBins("x", "numeric", (2.0, 1.0), (), (0.25,) * 4)


def test_profile_survives_constant_textual_and_empty_numeric_columns() -> None:
    contract = InputContract(
        (InputField("constant", "float"), InputField("texty", "int"), InputField("absent", "float"))
    )
    rows = pd.DataFrame({"constant": [5.0] * 50, "texty": ["abc"] * 45 + ["1", "2", "3", "4", "5"]})
    prof = reference_profile(contract, rows, np.full(50, 0.3))
    by = {f.name: f for f in prof.features}
    assert by["constant"].edges == (5.0,) and by["constant"].shares == (1.0, 0.0, 0.0)
    assert by["texty"].shares[-1] == pytest.approx(0.9)
    assert by["absent"].edges == () and by["absent"].shares == (0.0, 1.0)
    assert prof.score.edges == (0.3,)
    binned = prof.bin_rows(pd.DataFrame({"constant": [4.0, 6.0]}))  # texty, absent: all missing
    texty = by["texty"].size - 1
    assert binned.tolist() == [[0, texty, 1], [1, texty, 1]]


def test_profile_errors() -> None:
    rows = simulate(10, np.random.default_rng(1))
    with pytest.raises(ValueError, match="scores for"):
        reference_profile(CONTRACT, rows, np.zeros(9))
    with pytest.raises(ValueError, match="no reference row"):
        reference_profile(CONTRACT, rows.iloc[:0], np.zeros(0))


# -- drift ----------------------------------------------------------------------------------------------


def test_psi_known_values_and_errors() -> None:
    assert psi([0.5, 0.5], [50, 50]) == pytest.approx(0.0)
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert psi([0.5, 0.5], [80, 20]) == pytest.approx(expected)
    assert np.isfinite(psi([1.0, 0.0], [0, 10]))  # floored: large, finite
    assert np.isnan(psi([0.5, 0.5], [0, 0]))
    with pytest.raises(ValueError, match="reference shares"):
        psi([0.5, 0.5], [1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        psi([0.5, 0.5], [-1, 2])


def test_undrifted_samples_never_alarm(profile: ReferenceProfile) -> None:
    """20 live samples of 2,000 rows from the reference distribution: 0 false alarms measured over the 20
    (every feature's and the score's PSI stays under 0.2; the largest measured is 0.015)."""
    rng = np.random.default_rng(42)
    alarms, largest = 0, 0.0
    for _ in range(20):
        live = simulate(2000, rng)
        table = drift_table(profile, profile.bin_rows(live), profile.bin_scores(rng.beta(2, 8, 2000)))
        alarms += int(table["drifted"].sum())
        largest = max(largest, float(table["psi"].max()))
    assert alarms == 0
    assert largest < 0.1


def test_shifted_mix_drifts_and_says_why(profile: ReferenceProfile) -> None:
    rng = np.random.default_rng(7)
    live = simulate(2000, rng, naf_p=[0.3, 0.05, 0.05, 0.05, 0.5, 0.05], age_shift=1.0)
    table = drift_table(profile, profile.bin_rows(live), profile.bin_scores(rng.beta(2, 8, 2000)))
    drifted = set(table.loc[table["drifted"], "feature"])
    assert drifted == {"naf_code", "age"}
    naf = table.set_index("feature").loc["naf_code"]
    assert naf["psi"] > 0.2 and naf["rows"] == 2000
    assert naf["top_change"].startswith("naf_code : 96 passe de 15 % à ")
    reasons = drift_alerts(table)
    assert len(reasons) == 2
    assert any(r.startswith("dérive de naf_code (PSI ") and r.endswith(" > 0,2)") for r in reasons)
    assert table.iloc[-1]["feature"] == "score" and not table.iloc[-1]["drifted"]


def test_small_live_samples_are_not_judged(profile: ReferenceProfile) -> None:
    rng = np.random.default_rng(3)
    live = simulate(100, rng, naf_p=[0.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    table = drift_table(profile, profile.bin_rows(live), profile.bin_scores(rng.beta(2, 8, 100)))
    assert table.set_index("feature").loc["naf_code", "psi"] > 0.2
    assert not table["drifted"].any()
    judged = drift_table(
        profile, profile.bin_rows(live), profile.bin_scores(rng.beta(2, 8, 100)), DriftThresholds(min_rows=50)
    )
    assert judged.set_index("feature").loc["naf_code", "drifted"]


def test_drift_table_refuses_wrong_shapes(profile: ReferenceProfile) -> None:
    with pytest.raises(ValueError, match="one column per feature"):
        drift_table(profile, np.zeros((5, 2), dtype=int), np.zeros(5, dtype=int))


# -- expected and realized performance ------------------------------------------------------------------


def test_expected_auc_matches_realized_auc_on_labels_drawn_from_p() -> None:
    """n = 20,000 labels drawn from p ~ Beta(2, 5): the expected AUC is within 0.01 of the realized one
    (gap measured 0.0004 with this seed: 0.7207 expected, 0.7203 realized)."""
    rng = np.random.default_rng(11)
    p = rng.beta(2, 5, 20_000)
    y = rng.random(len(p)) < p
    gap = abs(expected_auc(p) - roc_auc_score(y, p))
    assert gap < 0.01


def test_expected_auc_is_the_brute_force_expectation_on_a_tiny_example() -> None:
    """Every label vector of 5 records (with ties), weighted by its probability: the expected number of
    well-ordered pairs (sklearn's AUC times positives x negatives) over the expected number of pairs."""
    p = np.array([0.9, 0.6, 0.6, 0.3, 0.1])
    numerator = denominator = 0.0
    for labels in itertools.product([0, 1], repeat=len(p)):
        y = np.array(labels)
        weight = float(np.prod(np.where(y == 1, p, 1 - p)))
        pairs = y.sum() * (len(y) - y.sum())
        if pairs:
            numerator += weight * roc_auc_score(y, p) * pairs
            denominator += weight * pairs
    assert expected_auc(p) == pytest.approx(numerator / denominator, abs=1e-12)
    by_pairs = sum(
        p[i] * (1 - p[j]) * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
        for i in range(5)
        for j in range(5)
        if i != j
    ) / sum(p[i] * (1 - p[j]) for i in range(5) for j in range(5) if i != j)
    assert expected_auc(p) == pytest.approx(by_pairs, abs=1e-12)


def test_expected_auc_edge_cases() -> None:
    assert np.isnan(expected_auc(np.array([0.5])))
    assert np.isnan(expected_auc(np.zeros(10)))
    assert expected_auc(np.full(10, 0.3)) == pytest.approx(0.5)
    assert expected_auc(np.array([0.0, 1.0])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="within"):
        expected_auc(np.array([0.2, 1.2]))
    big = np.random.default_rng(0).random(1_000_000)
    assert 0.5 < expected_auc(big) < 1


def test_auc_standard_error() -> None:
    # by hand: Q1 = 0.8 / 1.2, Q2 = 1.28 / 1.8, SE = sqrt((0.16 + 49 (Q1 - 0.64) + 49 (Q2 - 0.64)) / 2500)
    assert auc_standard_error(0.8, 50, 50) == pytest.approx(0.04450, abs=1e-5)
    assert auc_standard_error(0.8, 500, 500) < auc_standard_error(0.8, 50, 50)
    assert np.isnan(auc_standard_error(0.8, 0, 10))
    assert np.isnan(auc_standard_error(float("nan"), 10, 10))


def test_capture_table() -> None:
    rng = np.random.default_rng(5)
    p = rng.beta(2, 5, 5000)
    y = (rng.random(len(p)) < p).astype(int)
    table = capture_table(y, p)
    assert table["share"].tolist() == pytest.approx([0.1 * k for k in range(1, 11)])
    assert table["rows"].iloc[0] == 500 and table["rows"].iloc[-1] == 5000
    assert table["captured"].iloc[-1] == pytest.approx(1.0)
    assert table["expected_capture"].iloc[-1] == pytest.approx(1.0)
    assert table["captured"].is_monotonic_increasing and table["expected_capture"].is_monotonic_increasing
    assert table["lift"].iloc[0] > 1.5 and table["lift"].iloc[-1] == pytest.approx(1.0)
    assert abs(table["captured"].iloc[1] - table["expected_capture"].iloc[1]) < 0.03
    without = capture_table(None, p, shares=(0.5, 1.0))
    assert list(without.columns) == ["share", "rows", "expected_capture"]
    with pytest.raises(ValueError, match="shares"):
        capture_table(None, p, shares=(0.0,))
    with pytest.raises(ValueError, match="labels for"):
        capture_table(y[:10], p)


def test_performance_table_overall_and_by_group() -> None:
    rng = np.random.default_rng(9)
    n = 8000
    p = rng.beta(2, 5, n)
    y = (rng.random(n) < p).astype(float)
    y[: n // 4] = np.nan  # outcomes not known yet
    frame = pd.DataFrame(
        {"probability": p, "outcome": y, "period": np.repeat(["2025-01", "2025-02"], n // 2)}
    )
    overall = performance_table(frame)
    assert len(overall) == 1
    row = overall.iloc[0]
    assert row["rows"] == n and row["with_outcome"] == n - n // 4
    assert row["expected_positive_rate"] == pytest.approx(p.mean())
    assert abs(row["calibration_gap"]) < 0.02
    assert abs(row["roc_auc"] - row["expected_auc"]) < 3 * row["auc_se"]
    known = ~np.isnan(y)
    assert row["brier"] == pytest.approx(np.mean((p[known] - y[known]) ** 2))
    by = performance_table(frame, by=["period"])
    assert by["period"].tolist() == ["2025-01", "2025-02"]
    assert by["rows"].sum() == n and by["with_outcome"].tolist() == [n // 4, n // 2]


def test_performance_table_one_class_and_errors() -> None:
    frame = pd.DataFrame({"probability": [0.2, 0.4, 0.6], "outcome": [0, 0, np.nan], "g": ["a", None, "a"]})
    row = performance_table(frame).iloc[0]
    assert np.isnan(row["roc_auc"]) and np.isnan(row["auc_se"]) and row["positives"] == 0
    assert len(performance_table(frame, by=["g"])) == 2  # a missing group value is its own group
    with pytest.raises(ValueError, match="missing column"):
        performance_table(frame.drop(columns="outcome"))
    with pytest.raises(ValueError, match="outcome must be"):
        performance_table(frame.assign(outcome=[0, 2, 1]))
    with pytest.raises(ValueError, match="within"):
        performance_table(frame.assign(probability=[0.1, np.nan, 0.3]))


def test_recall_at_alert_flags_a_group_the_alerts_miss() -> None:
    rng = np.random.default_rng(13)
    n = 4000
    group = rng.choice(["F", "M"], n)
    p = rng.beta(2, 5, n)
    y = (rng.random(n) < p).astype(float)
    p = np.where(group == "F", p * 0.5, p)  # the women's risks under-scored: their positives missed
    frame = pd.DataFrame(
        {"probability": p, "outcome": y, "sexe": group, "tiny": ["x"] * 30 + ["y"] * (n - 30)}
    )
    table = recall_at_alert(frame, threshold=0.4, groups=["sexe", "tiny"]).set_index(["attribute", "group"])
    assert table.loc[("sexe", "F"), "flagged"] and table.loc[("sexe", "M"), "flagged"]
    assert table.loc[("sexe", "F"), "recall"] < table.loc[("sexe", "M"), "recall"]
    assert not table.loc[("tiny", "x"), "flagged"]  # under 50 rows
    alerted = p >= 0.4
    assert table.loc[("sexe", "M"), "expected_recall"] == pytest.approx(
        p[alerted & (group == "M")].sum() / p[group == "M"].sum()
    )
    assert table["n"].groupby(level=0).sum().tolist() == [n, n]
    fair = recall_at_alert(frame.assign(probability=rng.permutation(p)), 0.4, ["sexe"])
    assert not fair["flagged"].any()


# -- groups of a record ---------------------------------------------------------------------------------


def test_naf_sections() -> None:
    assert len(NAF_SECTIONS) == 88
    assert NAF_SECTIONS["01"] == "A" and NAF_SECTIONS["43"] == "F" and NAF_SECTIONS["96"] == "S"
    assert NAF_SECTIONS["99"] == "U" and "04" not in NAF_SECTIONS


class _Model:
    input_contract = CONTRACT

    def report_groups(self, rows: pd.DataFrame) -> dict[str, np.ndarray]:
        return {"diplôme": rows["diploma"].to_numpy(dtype=object)}


def test_record_groups_from_the_contract_and_the_model() -> None:
    rows = pd.DataFrame(
        {"naf_code": ["43.22A", None, "0400Z"], "commune": ["2A004", "97411", None], "diploma": ["CAP"] * 3}
    )
    groups = record_groups(_Model(), rows)
    assert groups["departement"].tolist() == ["2A", "974", None]
    assert groups["naf_section"].tolist() == ["F", None, None]
    assert groups["diplôme"].tolist() == ["CAP"] * 3
    plain = type("Plain", (), {"input_contract": InputContract((InputField("x", "float"),))})()
    assert record_groups(plain, rows) == {}


def test_dropout_model_report_groups_and_alert_threshold(reference: object) -> None:
    from models.dropout_risk.features import DropoutFeatureBuilder

    model = DropoutModel(
        DropoutFeatureBuilder(reference, 6),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        (0.2, 0.45),
        RiskBandPolicy(),
    )
    assert model.alert_threshold == 0.45
    rows = pd.DataFrame(
        {
            "contract_id": ["a", "b"],
            "contract_start": ["2024-09-02", "2024-09-02"],
            "planned_end": ["2026-08-31", "2026-08-31"],
            "diploma": ["CAP", "BTS"],
            "naf_code": ["43.22A", "96.02A"],
            "birth_year": [2008, 1990],
            "sex": ["F", "M"],
        }
    )
    groups = record_groups(model, rows)
    assert groups["sexe"].tolist() == ["F", "M"]
    assert groups["naf_section"].tolist() == ["F", "S"]
    assert set(groups) >= {"âge", "niveau de diplôme", "résident QPV"}


def test_extract_model_report_groups() -> None:
    roles = ColumnRoles(
        target=TargetSpec(column="issue", positive=["rupture"]),
        categorical=["formation"],
        sensitive=["Sexe", "Âge"],
        report_groups=["site"],
        group_bins={"Âge": [18, 21]},
    )
    model = DropoutModel(ExtractFeatureBuilder(roles), None, None, (0.1, 0.3), RiskBandPolicy())  # type: ignore[arg-type]
    rows = pd.DataFrame({" Sexe ": ["F", "M", None], "Âge": ["17", "19,5", "30"], "formation": ["a"] * 3})
    groups = model.report_groups(rows)
    assert set(groups) == {"Sexe", "Âge"}  # "site" is not in the rows
    assert groups["Sexe"].tolist() == ["F", "M", None]
    assert groups["Âge"].tolist() == ["< 18", "18 - < 21", ">= 21"]
    assert model.alert_threshold == 0.3


def test_a_rare_free_text_never_enters_the_profile() -> None:
    """The profile travels with the model (pickled, logged as an artifact): a free-text value held by few
    reference rows (a tutor's name in a centre's extract) is binned as « autre », never kept by name."""
    contract = InputContract(fields=(InputField("tuteur", "text"), InputField("metier", "text")))
    rows = pd.DataFrame(
        {
            "tuteur": ["Marie Dupont", *["Jean Martin"] * 3, *[None] * 996],
            "metier": [*["coiffure"] * 600, *["boulangerie"] * 390, *["horlogerie"] * 10],
        }
    )
    profile = reference_profile(contract, rows, np.linspace(0, 1, len(rows)))
    kept = json.dumps(profile.to_dict(), ensure_ascii=False)
    assert "Marie Dupont" not in kept and "Jean Martin" not in kept and "horlogerie" not in kept
    by_name = {f.name: f for f in profile.features}
    assert set(by_name["metier"].categories) == {"coiffure", "boulangerie"}
    assert by_name["metier"].bin(["horlogerie"]).tolist() == [by_name["metier"].labels().index("autre")]
