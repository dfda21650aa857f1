"""Closing the loop through the API: prediction ids kept without personal data, outcomes joined back, drift
seen on /ready and /metrics, challengers shadow-scored without touching the answers, a simulated year of
scores and outcomes against the oracle."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from sklearn.metrics import roc_auc_score

from models.monitoring import auc_standard_error, performance_table
from service.app import create_app
from service.model_registry import DIGEST_TAG
from service.monitoring import MonitoringStore
from tests.service.conftest import Served, contract_records

pytestmark = pytest.mark.slow
DROPOUT = "/v1/dropout-risk/scores"
MARKER = "DUPONT-Marie-1999-06-12"


def _app(served: Served, tmp_path: Path, **settings: object) -> TestClient:
    config = served.settings.model_copy(
        update={"monitoring_db": tmp_path / "monitoring.db", "drift_cache_seconds": 0.0, **settings}
    )
    return TestClient(create_app(config))


def _latest_cohort(served: Served) -> pd.DataFrame:
    """The contracts of the last cohort: the rows the champion's reference profile was made of."""
    rows = served.dropout_rows
    year = pd.to_datetime(rows["contract_start"]).dt.year
    return rows[year == year.max()].reset_index(drop=True)


def _dump(path: Path) -> str:
    """Every value of every table of a SQLite file, as one text."""
    with sqlite3.connect(path) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(str(row) for t in tables for row in con.execute(f"SELECT * FROM {t}"))


def test_every_score_has_a_prediction_id_kept_without_personal_data(served: Served, tmp_path: Path) -> None:
    records = contract_records(_latest_cohort(served), 20)
    records[0]["contract_id"] = MARKER
    headers = {"X-API-Key": served.keys["agent"]}
    with _app(served, tmp_path) as client:
        answer = client.post(DROPOUT, json={"contracts": records}, headers=headers)
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        ids = [r["prediction_id"] for r in results]
        assert len(set(ids)) == 20 and all(i.startswith("p-") for i in ids)
        # The outcome of the marked record, by its identifier as scored: joined, pseudonymised the same way.
        back = client.post(
            "/v1/outcomes",
            json={
                "model": "dropout_risk",
                "outcomes": [
                    {"record_id": MARKER, "outcome": True, "action": "pack_ppr"},
                    {"prediction_id": ids[1], "outcome": False, "outcome_date": "2030-01-01"},
                ],
            },
            headers=headers,
        )
        assert back.status_code == 200, back.text
        assert back.json() | {"errors": []} == {
            "model": "dropout_risk",
            "received": 2,
            "kept": 2,
            "matched": 2,
            "unmatched": 0,
            "rejected": 0,
            "errors": [],
        }
        csv = client.post(
            f"{DROPOUT}.csv",
            files={"file": ("c.csv", pd.DataFrame(records[1:4]).to_csv(sep=";", index=False), "text/csv")},
            headers=headers,
        )
        assert csv.status_code == 200 and "identifiant_prediction" in csv.text.splitlines()[0]
        client.app.state.monitor.flush()  # type: ignore[attr-defined]
        store = client.app.state.monitor.store  # type: ignore[attr-defined]
        kept = store.predictions("dropout_risk")
    assert len(kept) == 23 and set(ids) <= set(kept["prediction_id"])
    first = kept.set_index("prediction_id").loc[ids[0]]
    assert first["outcome"] == 1 and first["action"] == "pack_ppr"
    assert first["probability"] == pytest.approx(results[0]["probability"])
    assert {"naf_section", "sexe", "niveau de diplôme"} <= set(kept.columns)
    dump = _dump(tmp_path / "monitoring.db")
    assert MARKER not in dump and MARKER.split("-")[0] not in dump
    with sqlite3.connect(tmp_path / "monitoring.db") as con:
        kept_values = {v for row in con.execute("SELECT * FROM predictions") for v in row}
    for field in ("birth_year", "distance_home_centre_km"):  # values never kept, only their bins
        assert records[0][field] not in kept_values and str(records[0][field]) not in kept_values


def test_outcomes_are_checked_one_by_one_and_never_echoed(served: Served, tmp_path: Path) -> None:
    headers = {"X-API-Key": served.keys["agent"]}
    with _app(served, tmp_path) as client:
        scored = client.post(
            DROPOUT, json={"contracts": contract_records(_latest_cohort(served), 2)}, headers=headers
        ).json()["results"]
        outcomes = [
            {"prediction_id": scored[0]["prediction_id"], "outcome": True},
            {"prediction_id": "p-aaaaaaaaaaaaaaaa-aaab", "outcome": True},  # no such prediction
            {"prediction_id": "SECRET-VALUE", "outcome": True},  # malformed
            {"record_id": "x", "prediction_id": scored[1]["prediction_id"], "outcome": False},  # both
            {"prediction_id": scored[1]["prediction_id"], "outcome": "peut-être"},
            {"prediction_id": scored[1]["prediction_id"], "outcome": False, "action": "appel"},
        ]
        answer = client.post(
            "/v1/outcomes", json={"model": "dropout_risk", "outcomes": outcomes}, headers=headers
        )
        assert answer.status_code == 200
        body = answer.json()
        assert (body["received"], body["kept"], body["matched"], body["unmatched"], body["rejected"]) == (
            6,
            2,
            1,
            1,
            4,
        )
        assert [e["index"] for e in body["errors"]] == [1, 2, 3, 4, 5]
        assert {e["field"] for e in body["errors"]} >= {"prediction_id", "outcome", "action"}
        assert "SECRET-VALUE" not in answer.text and "peut-être" not in answer.text
        none_valid = client.post(
            "/v1/outcomes", json={"model": "dropout_risk", "outcomes": outcomes[2:3]}, headers=headers
        )
        assert none_valid.status_code == 422 and "SECRET-VALUE" not in none_valid.text
        unknown = client.post(
            "/v1/outcomes", json={"model": "nope", "outcomes": outcomes[:1]}, headers=headers
        )
        assert unknown.status_code == 404
        refused = client.post(
            "/v1/outcomes",
            json={"model": "dropout_risk", "outcomes": outcomes[:1]},
            headers={"X-API-Key": served.keys["advisor"]},
        )
        assert refused.status_code == 403
        assert client.app.state.monitor.store.unmatched_outcomes("dropout_risk") == 1  # type: ignore[attr-defined]


def _drifted(rows: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """A batch of another mix of diplomas: the commonest diploma of the reference makes up 90 % of it."""
    top = rows["diploma"].value_counts().index[0]
    main, other = rows[rows["diploma"] == top], rows[rows["diploma"] != top]
    k = int(0.9 * n)
    return pd.concat(
        [main.sample(k, replace=True, random_state=rng), other.sample(n - k, replace=True, random_state=rng)]
    )


def test_a_drifted_batch_raises_the_alert_and_undrifted_ones_do_not(served: Served, tmp_path: Path) -> None:
    """20 undrifted batches of 600 contracts drawn from the reference cohort: no alert (false-alarm rate
    0/20 measured); a batch with another mix of diplomas: the alert, on /ready, /metrics and in the table."""
    cohort = _latest_cohort(served)
    rng = np.random.default_rng(0)
    headers = {"X-API-Key": served.keys["admin"]}
    n = 600
    with _app(served, tmp_path, drift_window=n, drift_min_rows=500) as client:
        false_alarms = 0
        for _ in range(20):
            batch = cohort.sample(n, replace=True, random_state=rng)
            answer = client.post(DROPOUT, json={"contracts": contract_records(batch, n)}, headers=headers)
            assert answer.status_code == 200
            ready = client.get("/ready", headers=headers).json()
            false_alarms += int(ready["degraded"])
            assert ready["monitoring"]["dropout_risk"]["live_records"] == n
        assert false_alarms == 0
        drifted = _drifted(cohort, n, rng)
        client.post(DROPOUT, json={"contracts": contract_records(drifted, n)}, headers=headers)
        ready = client.get("/ready", headers=headers)
        assert ready.status_code == 200  # degraded, still serving
        body = ready.json()
        assert body["degraded"] is True and body["ready"] is True
        assert any("diploma" in reason for reason in body["alerts"]["dropout_risk"])
        metrics = client.get("/metrics", headers=headers).text
        assert 'cma_drift_alert{model="dropout_risk"} 1.0' in metrics
        psi_line = next(line for line in metrics.splitlines() if 'feature="diploma"' in line)
        assert float(psi_line.rsplit(" ", 1)[1]) > 0.2
        assert 'cma_drift_alert{model="apprenticeship_host"} 0.0' in metrics  # nothing scored: no alert


@pytest.fixture()
def challenger(served: Served) -> Iterator[str]:
    """The dropout champion's artifacts registered again as a new version carrying `challenger` (removed
    after the test: the session's registry is shared)."""
    mlflow.set_tracking_uri(served.settings.resolved_tracking_uri())
    client = MlflowClient(served.settings.resolved_tracking_uri())
    champion = client.get_model_version_by_alias("dropout_risk", "champion")
    version = client.create_model_version(
        "dropout_risk", champion.source, champion.run_id, tags={DIGEST_TAG: champion.tags[DIGEST_TAG]}
    )
    client.set_registered_model_alias("dropout_risk", "challenger", version.version)
    try:
        yield str(version.version)
    finally:
        client.delete_registered_model_alias("dropout_risk", "challenger")
        client.delete_model_version("dropout_risk", version.version)


def test_a_challenger_is_shadow_scored_without_changing_the_answers(
    served: Served, tmp_path: Path, challenger: str
) -> None:
    records = contract_records(_latest_cohort(served), 50)
    headers = {"X-API-Key": served.keys["admin"]}
    with _app(served, tmp_path / "without", shadow_queue=0) as client:
        alone = client.post(DROPOUT, json={"contracts": records}, headers=headers).json()["results"]
    with _app(served, tmp_path) as client:
        assert client.app.state.registry.challenger("dropout_risk").version == challenger  # type: ignore[attr-defined]
        shadowed = client.post(DROPOUT, json={"contracts": records}, headers=headers).json()["results"]
        monitor = client.app.state.monitor  # type: ignore[attr-defined]
        monitor.flush()
        ready = client.get("/ready", headers=headers).json()
        assert ready["monitoring"]["dropout_risk"]["challenger"] == challenger
        assert "cma_shadow_rows_total" in client.get("/metrics", headers=headers).text
        kept = monitor.store.predictions("dropout_risk")

    def without_ids(rows: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in r.items() if k != "prediction_id"} for r in rows]

    assert without_ids(shadowed) == without_ids(alone)
    shadow = kept[kept["role"] == "challenger"].set_index("prediction_id")
    assert len(shadow) == 50 and (shadow["version"] == challenger).all()
    champion = kept[kept["role"] == "champion"].set_index("prediction_id")
    joined = champion.join(shadow, rsuffix="_challenger")
    # The same artifacts: the shadow agrees with the champion exactly.
    assert np.allclose(joined["probability"], joined["probability_challenger"])


def test_a_simulated_year_realized_auc_against_the_oracle(served: Served, tmp_path: Path) -> None:
    """A year of contracts the champion never saw (the simulator drawn again with another seed: its last
    cohort, predicted from February to the next February), scored month by month through the API, their
    outcomes (the simulator's draws) sent back: realized AUC each month within sampling error of the
    oracle's on the same rows, and the expected AUC (before any outcome, from the calibrated scores) within
    0.02 of the realized one over the year."""
    from models.dropout_risk.training import dropout_dataset
    from pipelines.runner import load_family_config, pipeline_data

    config = load_family_config(
        "dropout_risk", overrides=["simulation.n_contracts=24000", "simulation.seed=7"]
    )
    drawn = dropout_dataset(config, pipeline_data(tmp_path / "quarantine"))
    year = pd.to_datetime(drawn["contract_start"]).dt.year
    cohort = drawn[year == year.max()].reset_index(drop=True)
    label = "rupture"
    cohort = cohort[cohort[label].notna()]
    month = pd.to_datetime(cohort["prediction_date"]).dt.strftime("%Y-%m")
    headers = {"X-API-Key": served.keys["agent"]}
    with _app(served, tmp_path) as client:
        expected_before = None
        for period in sorted(month.unique()):
            rows = cohort[month == period]
            records = contract_records(rows, len(rows))
            results = client.post(DROPOUT, json={"contracts": records}, headers=headers).json()["results"]
            if period == sorted(month.unique())[-1]:
                client.app.state.monitor.flush()  # type: ignore[attr-defined]
                store: MonitoringStore = client.app.state.monitor.store  # type: ignore[attr-defined]
                before = store.predictions("dropout_risk")
                expected_before = performance_table(before)["expected_auc"].iloc[0]
            outcomes = [
                {"prediction_id": r["prediction_id"], "outcome": bool(y)}
                for r, y in zip(results, rows[label], strict=True)
            ]
            sent = client.post(
                "/v1/outcomes", json={"model": "dropout_risk", "outcomes": outcomes}, headers=headers
            ).json()
            assert sent["matched"] == len(rows)
        kept = client.app.state.monitor.store.predictions("dropout_risk")  # type: ignore[attr-defined]
    by_month = performance_table(kept, by=["period"]).set_index("period")
    oracle = cohort.assign(period=month.to_numpy())
    oracle_column = "oracle_rupture" if "oracle_rupture" in cohort else "oracle_probability"
    checked = 0
    for period, group in oracle.groupby("period"):
        y = group[label].to_numpy()
        if len(group) < 100 or y.sum() < 10 or y.sum() == len(y):
            continue
        realized, se = by_month.loc[period, "roc_auc"], by_month.loc[period, "auc_se"]
        oracle_auc = roc_auc_score(y, group[oracle_column])
        oracle_se = auc_standard_error(oracle_auc, int(y.sum()), int(len(y) - y.sum()))
        assert abs(realized - oracle_auc) <= 2 * np.hypot(se, oracle_se), (period, realized, oracle_auc)
        checked += 1
    assert checked >= 8
    year = performance_table(kept).iloc[0]
    assert expected_before is not None and abs(expected_before - year["roc_auc"]) <= 0.02
    assert abs(year["expected_auc"] - year["roc_auc"]) <= 0.02


def test_outcomes_join_only_the_senders_chambers_scores(served: Served, tmp_path: Path) -> None:
    """Another chamber's agent can neither join an outcome to these scores nor learn that a record was
    scored: by prediction id or by identifier, its outcome is as unmatched as one for a record never
    scored, and the scores keep no outcome of it."""
    from service.keys import KeyStore

    other = KeyStore(served.settings.keys_path()).create("agent", "CMA autre chambre")[0]
    records = contract_records(_latest_cohort(served), 3)
    with _app(served, tmp_path) as client:
        scored = client.post(
            DROPOUT, json={"contracts": records}, headers={"X-API-Key": served.keys["agent"]}
        ).json()["results"]
        outcomes = [
            {"prediction_id": scored[0]["prediction_id"], "outcome": True},
            {"record_id": records[1]["contract_id"], "outcome": True},
            {"record_id": "jamais-note", "outcome": True},
        ]
        answer = client.post(
            "/v1/outcomes",
            json={"model": "dropout_risk", "outcomes": outcomes},
            headers={"X-API-Key": other},
        ).json()
        assert (answer["matched"], answer["unmatched"]) == (0, 3)
        reasons = {e["reason"] for e in answer["errors"]}
        assert len(reasons) == 1, "the same answer as for a record never scored"
        kept = client.app.state.monitor.store.predictions("dropout_risk")  # type: ignore[attr-defined]
        assert kept["outcome"].isna().all()
