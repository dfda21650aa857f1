"""The monitoring report (`pipelines.monitor`) and the `monitor` / `outcomes` commands, on a monitoring
store in a temporary SQLite file filled through `MonitoringStore.record` with a small fake model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from models.interface import InputContract, InputField
from models.monitoring import ReferenceProfile, reference_profile
from pipelines.cli import app
from pipelines.monitor import (
    event_outcomes,
    log_monitoring_run,
    monitoring_figures,
    outcome_rows,
    render_report,
)
from service.monitoring import CHALLENGER, CHAMPION, MonitoringStore, new_prediction_ids

MODEL = "toy_model"
MARKER = "SECRET"  # every identifier carries it: it must never reach the report
runner = CliRunner()

CONTRACT = InputContract(
    fields=(
        InputField("record_id", "text"),
        InputField("as_of", "date"),
        InputField("naf", "text", code="naf"),
        InputField("commune", "text", code="commune"),
        InputField("effectif", "float"),
    ),
    id_field="record_id",
    as_of="as_of",
)


@dataclass
class FakeScoring:
    """The scoring face `MonitoringStore.record` reads: contract, outputs, the model card's groups."""

    input_contract: InputContract = CONTRACT
    output_fields: tuple[Any, ...] = ()

    def report_groups(self, rows: pd.DataFrame) -> dict[str, np.ndarray]:
        return {"sexe": rows["sexe"].to_numpy(dtype=object)}


@dataclass
class FakeLoaded:
    name: str
    version: str
    model: FakeScoring
    profile: ReferenceProfile | None


def _rows(rng: np.random.Generator, n: int, month: str, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": [f"{MARKER}-{month}-{i:05d}" for i in range(n)],
            "as_of": f"{month}-15",
            "naf": rng.choice(["43.22A", "56.10A", "96.02B"], n),
            "commune": rng.choice(["75056", "69123", "97411"], n),
            "effectif": rng.gamma(2.0, 3.0, n) + shift,
            "sexe": rng.choice(["F", "H"], n),
        }
    )


@dataclass
class Filled:
    store: MonitoringStore
    profile: ReferenceProfile
    truth: pd.DataFrame  # prediction_id, period, probability, outcome (NaN when not sent)


def _fill(path: Path, seed: int = 3, per_month: int = 900) -> Filled:
    """Three months of champion scores (version 1 in January, 2 after; version 2's `effectif` drifted in
    March), outcomes drawn from the probabilities for 90 % of them, a challenger on February and March."""
    rng = np.random.default_rng(seed)
    reference = _rows(rng, 3000, "2025-12")
    profile = reference_profile(CONTRACT, reference, rng.beta(1.2, 4.0, 3000))
    store = MonitoringStore(path)
    truth = []
    for month, version, shift in (("2026-01", "1", 0.0), ("2026-02", "2", 0.0), ("2026-03", "2", 8.0)):
        frame = _rows(rng, per_month, month, shift)
        p = rng.beta(1.2, 4.0, per_month)
        ids = new_prediction_ids(per_month)
        loaded = FakeLoaded(MODEL, version, FakeScoring(), profile)
        bands = np.where(p >= 0.4, "élevé", "faible")
        store.record(loaded, frame, p, ids, CHAMPION, "api", bands)  # type: ignore[arg-type]
        if month != "2026-01":
            q = np.clip(p + rng.normal(0, 0.05, per_month), 0, 1)
            shadow = FakeLoaded(MODEL, "3", FakeScoring(), profile)
            bands_q = np.where(q >= 0.4, "élevé", "faible")
            store.record(shadow, frame, q, ids, CHALLENGER, "api", bands_q, model_name=MODEL)  # type: ignore[arg-type]
        y = (rng.random(per_month) < p).astype(float)
        sent = rng.random(per_month) < 0.9
        outcomes = [
            {"prediction_id": str(i), "outcome": int(o), "outcome_date": f"{month}-28"}
            for i, o, s in zip(ids, y, sent, strict=True)
            if s
        ]
        store.add_outcomes(MODEL, outcomes, source="test")
        truth.append(
            pd.DataFrame(
                {
                    "prediction_id": ids,
                    "period": month,
                    "probability": p,
                    "outcome": np.where(sent, y, np.nan),
                }
            )
        )
    return Filled(store, profile, pd.concat(truth, ignore_index=True))


@pytest.fixture()
def filled(tmp_path: Path) -> Iterator[Filled]:
    data = _fill(tmp_path / "monitoring.db")
    yield data
    data.store.close()


def test_figures_realized_and_expected(filled: Filled) -> None:
    rows = filled.store.predictions(MODEL)
    figures = monitoring_figures(rows, filled.profile, since="2026-01", until="2026-03", unmatched_outcomes=0)
    truth = filled.truth
    by_period = figures.by_period.set_index("period")
    for month, part in truth.groupby("period"):
        known = part[part["outcome"].notna()]
        direct = roc_auc_score(known["outcome"], known["probability"])
        row = by_period.loc[month]
        assert abs(row["roc_auc"] - direct) <= 2 * row["auc_se"]
        assert row["with_outcome"] == len(known)
        assert row["rows"] == len(part)
    overall = figures.overall.iloc[0]
    assert overall["with_outcome"] >= 2000
    assert abs(overall["expected_auc"] - overall["roc_auc"]) < 0.03
    print(
        f"realized AUC {overall['roc_auc']:.4f} ± {overall['auc_se']:.4f}, "
        f"expected {overall['expected_auc']:.4f} "
        f"on {int(overall['with_outcome'])} outcomes"
    )
    assert len(figures.capture) == 10
    assert {"share", "rows", "expected_capture", "captured", "lift", "expected_capture_all"} <= set(
        figures.capture
    )
    assert figures.capture["captured"].iloc[-1] == pytest.approx(1.0)
    assert set(figures.by_period_version["version"]) == {"1", "2"}
    assert set(figures.by_departement["departement"]) == {"75", "69", "974"}
    assert set(figures.by_naf_section["naf_section"]) == {"F", "I", "S"}
    # drift judged on the latest version (2), whose March effectif moved by +8
    assert figures.drift_version == "2"
    drifted = set(figures.drift.loc[figures.drift["drifted"], "feature"])
    assert "effectif" in drifted and "naf" not in drifted
    assert any("effectif" in a for a in figures.alerts)
    assert set(figures.groups["attribute"]) == {"sexe"}
    agreement = figures.challenger.iloc[0]
    assert agreement["rows"] == 1800
    assert 0.8 < agreement["spearman"] <= 1.0
    assert 0 < agreement["decile_changed_share"] < 1
    assert set(figures.challenger_performance["role"]) == {"champion", "challenger"}


def test_figures_without_profile_say_so(filled: Filled) -> None:
    figures = monitoring_figures(filled.store.predictions(MODEL, since="2026-02"), None)
    assert figures.drift.empty
    assert any("profil de référence" in n for n in figures.notes)
    with pytest.raises(ValueError):
        monitoring_figures(filled.store.predictions("other"), None)


def test_report_is_self_contained_and_logged(filled: Filled, mlflow_home: Path) -> None:
    from mlflow import MlflowClient

    from pipelines.tracking import configure_tracking

    figures = monitoring_figures(filled.store.predictions(MODEL), filled.profile, unmatched_outcomes=2)
    html = render_report(figures, MODEL, "2026-01..2026-03")
    for section in ("Synthèse", "Performance par mois", "Capture", "Dérive des entrées", "Par département",
                    "Par section NAF", "Groupes", "Challenger"):  # fmt: skip
        assert section in html
    assert html.count("data:image/png;base64,") == 3
    assert MARKER not in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    configure_tracking()
    run_id = log_monitoring_run(figures, html, MODEL, "2026-01..2026-03")
    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.data.tags["cma.monitoring.model"] == MODEL
    assert run.data.tags["cma.monitoring.period"] == "2026-01..2026-03"
    for name in ("realized_auc", "expected_auc", "expected_minus_realized", "max_psi", "drifted_features",
                 "challenger_spearman", "unmatched_outcomes"):  # fmt: skip
        assert name in run.data.metrics
    assert len(client.get_metric_history(run_id, "monthly_realized_auc")) == 3
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert "report.html" in artifacts and "tables" in artifacts
    tables = {a.path for a in client.list_artifacts(run_id, "tables")}
    assert "tables/drift.json" in tables and "tables/by_period.json" in tables


def test_monitor_command(filled: Filled, mlflow_home: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "monitoring.db")
    out = tmp_path / "report.html"
    result = runner.invoke(
        app, ["monitor", "--model", MODEL, "--period", "2026-01..2026-03", "--db", db, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "expected AUC" in result.output and out.exists()
    assert "profil de référence" in result.output  # not a registered model: no drift section, said
    empty = runner.invoke(app, ["monitor", "--model", "nobody", "--db", db])
    assert empty.exit_code == 2
    assert "no champion prediction" in empty.output
    bad = runner.invoke(app, ["monitor", "--model", MODEL, "--period", "2026-13..", "--db", db])
    assert bad.exit_code == 2
    other = runner.invoke(app, ["monitor", "--model", MODEL, "--chamber", "CMA Corse", "--db", db])
    assert other.exit_code == 2 and "no champion prediction" in other.output  # no score of its keys


def test_outcome_rows_rules() -> None:
    raw = pd.DataFrame(
        {
            "siret": ["123", "", "456", "789"],
            "outcome": ["oui", "1", "peut-être-SECRET", "False"],
            "outcome_date": ["31/03/2026", "2026-03-01", "2026-03-01", "2026-02-30"],
        }
    )
    valid, errors = outcome_rows(raw, "siret", "f.csv")
    assert valid == [{"record_id": "123", "outcome": 1, "outcome_date": "2026-03-31", "action": None}]
    assert list(zip(errors["row"], errors["field"], strict=True)) == [
        (3, "siret"),
        (4, "outcome"),
        (5, "outcome_date"),
    ]
    assert MARKER not in errors.to_csv()


def test_outcomes_command_quarantines_bad_rows(filled: Filled, tmp_path: Path, mlflow_home: Path) -> None:
    ids = filled.store.champion_records(MODEL)
    open_ids = ids.loc[~ids["has_outcome"], "prediction_id"].head(3).tolist()
    path = tmp_path / "retours.csv"
    pd.DataFrame(
        {
            "prediction_id": [open_ids[0], open_ids[1], open_ids[2], "p-aaaaaaaaaaaaaaaa-aaab"],
            "outcome": ["oui", f"{MARKER}-VALUE", "0", "1"],
            "outcome_date": ["2026-03-30", "2026-03-30", "30/03/2026", "2026-03-30"],
            "action": ["pack_ppr", "", "", ""],
        }
    ).to_csv(path, sep=";", index=False)
    result = runner.invoke(
        app, ["outcomes", str(path), "--model", MODEL, "--db", str(tmp_path / "monitoring.db")]
    )
    assert result.exit_code == 0, result.output
    assert "row 3, outcome" in result.output and "oui/non" in result.output
    assert MARKER not in result.output
    assert "4 received, 3 kept, 2 matched, 1 unmatched, 1 rejected" in result.output
    quarantine = tmp_path / "retours.csv.quarantine.csv"
    assert quarantine.exists() and MARKER not in quarantine.read_text()
    rows = filled.store.predictions(MODEL).set_index("prediction_id")
    assert rows.loc[open_ids[0], "outcome"] == 1 and rows.loc[open_ids[2], "outcome"] == 0
    assert np.isnan(rows.loc[open_ids[1], "outcome"])
    assert filled.store.unmatched_outcomes(MODEL) == 1


def test_event_rule() -> None:
    predictions = pd.DataFrame(
        {
            "prediction_id": ["a", "b", "c", "d", "e"],
            "record_key": ["k1", "k2", "k3", "k4", None],
            "day": ["2026-01-01", "2026-01-01", "2026-01-01", "2026-03-01", "2026-01-01"],
        }
    )
    events = pd.DataFrame(
        {
            "record_key": ["k1", "k2", "k3", "k1"],
            "event_date": [date(2026, 2, 1), date(2026, 1, 1), date(2026, 4, 15), date(2026, 3, 1)],
        }
    )
    out, pending = event_outcomes(predictions, events, 90, date(2026, 4, 15))
    got = {o["prediction_id"]: (o["outcome"], o["outcome_date"]) for o in out}
    # a: event on day 31; b: an event on the as-of day itself does not count; c: its event is past the
    # horizon (2026-04-01), which the extract covers; d: horizon not elapsed, no event: pending; e: no key
    assert got == {"a": (1, "2026-02-01"), "b": (0, "2026-04-01"), "c": (0, "2026-04-01")}
    assert pending == 1
    # Ruptures end the contract: b broke on its scoring date, it was not running: left out, not 0.
    out, pending = event_outcomes(predictions, events, 90, date(2026, 4, 15), terminal=True)
    assert {o["prediction_id"] for o in out} == {"a", "c"} and pending == 2


def test_outcomes_events_command(tmp_path: Path, mlflow_home: Path) -> None:
    db = tmp_path / "events.db"
    store = MonitoringStore(db)
    rng = np.random.default_rng(5)
    frame = _rows(rng, 4, "2026-01")
    profile = reference_profile(CONTRACT, frame, rng.random(4))
    ids = new_prediction_ids(4)
    store.record(FakeLoaded(MODEL, "1", FakeScoring(), profile), frame, rng.random(4), ids)  # type: ignore[arg-type]
    later = _rows(rng, 1, "2026-04")
    store.record(FakeLoaded(MODEL, "1", FakeScoring(), profile), later, rng.random(1), new_prediction_ids(1))  # type: ignore[arg-type]
    events = tmp_path / "contrats.csv"
    pd.DataFrame(
        {
            "record_id": [frame["record_id"][0], frame["record_id"][1], "", frame["record_id"][3]],
            "date_debut": ["2026-02-10", "2027-01-01", "2026-02-01", "pas une date"],
        }
    ).to_csv(events, index=False)
    args = ["outcomes", str(events), "--model", MODEL, "--events", "--id-column", "record_id",
            "--date-column", "date_debut", "--horizon-days", "60", "--as-of", "2026-04-30",
            "--db", str(db)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 outcome 1, 3 outcome 0, 1 pending" in result.output
    assert "row 4, record_id" in result.output and "row 5, date_debut" in result.output
    rows = store.predictions(MODEL).set_index("prediction_id")
    assert rows.loc[ids[0], "outcome"] == 1 and rows.loc[ids[1], "outcome"] == 0
    again = runner.invoke(app, args)  # already decided predictions are not decided twice
    assert "0 outcome 1, 0 outcome 0, 1 pending" in again.output
    store.close()


@pytest.mark.slow
def test_the_same_store_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The monitoring tables on PostgreSQL (the state database of `CMA_DATABASE_URL`), migrated there:
    the same scores and outcomes as on SQLite give the same kept rows and the same figures."""
    on_sqlite = _fill(tmp_path / "monitoring.db")
    on_postgres = _fill(postgres_url)  # type: ignore[arg-type]
    columns = ["period", "probability", "outcome", "band", "score_bin", "bins", "sexe", "departement"]

    def kept(store: MonitoringStore) -> pd.DataFrame:
        return store.predictions(MODEL).sort_values(["period", "role", "probability"])[columns]

    pd.testing.assert_frame_equal(
        kept(on_sqlite.store).reset_index(drop=True), kept(on_postgres.store).reset_index(drop=True)
    )
    sqlite_figures = monitoring_figures(on_sqlite.store.predictions(MODEL), on_sqlite.profile)
    postgres_figures = monitoring_figures(on_postgres.store.predictions(MODEL), on_postgres.profile)
    pd.testing.assert_frame_equal(sqlite_figures.by_period, postgres_figures.by_period)
    report = on_postgres.store.add_outcomes(
        MODEL, [{"record_id": f"{MARKER}-2026-03-00001", "outcome": 1, "outcome_date": "2026-04-01"}], "test"
    )
    assert (report.matched, report.unmatched) == (1, 0)


def test_outcomes_events_from_a_national_export(
    tmp_path: Path, mlflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next DECA export of the centre (the national format, read by the importer with the secret the
    scored contracts were imported with): a rupture within the horizon after the score is outcome 1, a
    contract without one once the horizon has passed is outcome 0."""
    from catalog.formats.common import Pseudonymiser
    from pipelines.importer import import_files
    from pipelines.reference import DATA_SAMPLES, load_reference

    monkeypatch.setenv("CMA_PSEUDONYM_KEY", "0123456789abcdef-test-secret")
    deca = DATA_SAMPLES / "national" / "dropout" / "deca.ndjson.gz"
    imported = import_files([deca], "deca", load_reference(), Pseudonymiser.from_env())
    contracts = imported.table("apprentice_contracts")  # the contracts the dropout model's records come from
    assert contracts is not None
    broke = contracts[contracts["rupture_date"].notna()].head(5)
    stayed = contracts[contracts["rupture_date"].isna()].head(5)
    rng = np.random.default_rng(8)
    frame = _rows(rng, 10, "2020-01")
    frame["record_id"] = [*broke["contract_id"], *stayed["contract_id"]]
    scored_on = [
        *(pd.to_datetime(broke["rupture_date"]) - pd.Timedelta(days=30)),
        *[pd.Timestamp("2020-01-15")] * 5,
    ]
    frame["as_of"] = [d.strftime("%Y-%m-%d") for d in scored_on]
    db = tmp_path / "events.db"
    store = MonitoringStore(db)
    profile = reference_profile(CONTRACT, frame, rng.random(10))
    ids = new_prediction_ids(10)
    store.record(FakeLoaded(MODEL, "1", FakeScoring(), profile), frame, rng.random(10), ids)  # type: ignore[arg-type]
    args = ["outcomes", str(deca), "--model", MODEL, "--events", "--id-column", "contract_id",
            "--date-column", "rupture_date", "--horizon-days", "365", "--as-of", "2026-12-01", "--terminal",
            "--db", str(db)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "5 outcome 1, 5 outcome 0, 0 pending" in result.output
    rows = store.predictions(MODEL).set_index("prediction_id").loc[list(ids)]
    assert rows["outcome"].tolist() == [1.0] * 5 + [0.0] * 5
    store.close()


def test_purge_keeps_only_the_retention_period(filled: Filled, tmp_path: Path) -> None:
    """`purge-monitoring --before 2026-02`: January's predictions and their outcomes go, the rest stays."""
    before = filled.store.predictions(MODEL)
    january = before[before["period"] == "2026-01"]
    result = runner.invoke(
        app, ["purge-monitoring", "--before", "2026-02", "--db", str(tmp_path / "monitoring.db")]
    )
    assert result.exit_code == 0, result.output
    after = filled.store.predictions(MODEL)
    assert set(after["period"]) == {"2026-02", "2026-03"} and len(after) == len(before) - len(january)
    expected = f"{len(january):,} predictions and {int(january['outcome'].notna().sum()):,} outcomes"
    assert expected in result.output
    bad = runner.invoke(app, ["purge-monitoring", "--before", "février", "--db", str(tmp_path / "m.db")])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output


def test_an_outcome_sent_before_its_score_is_kept_joins_it_later(tmp_path: Path) -> None:
    """A score answered by one worker and kept a moment later, its outcome sent to another worker in
    between: the outcome is kept (unmatched, counted), then joined once the score is there."""
    store = MonitoringStore(tmp_path / "monitoring.db")
    rng = np.random.default_rng(4)
    frame = _rows(rng, 2, "2026-01")
    profile = reference_profile(CONTRACT, frame, rng.random(2))
    ids = new_prediction_ids(2)
    early = store.add_outcomes(MODEL, [{"prediction_id": str(ids[0]), "outcome": 1}], "api", chamber="CMA A")
    assert (early.matched, early.unmatched) == (0, 1) and store.unmatched_outcomes(MODEL) == 1
    loaded = FakeLoaded(MODEL, "1", FakeScoring(), profile)
    store.record(loaded, frame, rng.random(2), ids, chamber="CMA A")  # type: ignore[arg-type]
    rows = store.predictions(MODEL).set_index("prediction_id")
    assert rows.loc[ids[0], "outcome"] == 1 and np.isnan(rows.loc[ids[1], "outcome"])
    assert store.unmatched_outcomes(MODEL) == 0
    assert len(store.predictions(MODEL, chamber="CMA A")) == 2 and store.predictions(MODEL, chamber="B").empty
    # Claimed by another chamber: never joined, whenever the score is kept.
    store.add_outcomes(MODEL, [{"prediction_id": str(ids[1]), "outcome": 1}], "api", chamber="CMA B")
    assert np.isnan(store.predictions(MODEL).set_index("prediction_id").loc[ids[1], "outcome"])
    assert store.unmatched_outcomes(MODEL) == 1
    store.close()


def test_a_short_pseudonymisation_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMA_PSEUDONYM_KEY", "court")
    with pytest.raises(ValueError, match="CMA_PSEUDONYM_KEY is shorter than 16 bytes"):
        MonitoringStore(tmp_path / "monitoring.db")
    monkeypatch.setenv("CMA_PSEUDONYM_KEY", "0123456789abcdef-long-enough")
    with_secret = MonitoringStore(tmp_path / "monitoring.db").record_keys(MODEL, ["X1"])
    monkeypatch.delenv("CMA_PSEUDONYM_KEY")
    assert MonitoringStore(tmp_path / "monitoring.db").record_keys(MODEL, ["X1"]) != with_secret


def test_a_small_group_shows_no_rate(filled: Filled) -> None:
    """A département (or a group of the card) with fewer than 50 outcomes shows its counts, never its
    rates: in the report and its MLflow tables, a group of a few is a few people."""
    rows = filled.store.predictions(MODEL)
    rows.loc[rows.index[:12], "departement"] = "2A"
    figures = monitoring_figures(rows, filled.profile)
    table = figures.by_departement.set_index("departement")
    assert np.isnan(table.loc["2A", "observed_rate"]) and np.isnan(table.loc["2A", "roc_auc"])
    assert table.loc["2A", "note"].startswith("moins de 50")
    assert table.loc["2A", "rows"] == 12
    assert not np.isnan(table.loc["75", "observed_rate"]) and table.loc["75", "note"] == ""
