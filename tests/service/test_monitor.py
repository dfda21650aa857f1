"""`service.monitoring.Monitor` on its own (no trained model): the background writer, a monitoring store
that fails and recovers, the queue's bound, a challenger that fails or is slow."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from models.interface import InputContract, InputField
from models.monitoring import DriftThresholds, reference_profile
from service.metrics import ServiceMetrics
from service.monitoring import Monitor, MonitoringStore
from service.stores import MONITORING, StoreHealth, StoreUnavailable, migrate

CONTRACT = InputContract(
    fields=(InputField("record_id", "text"), InputField("size", "float")), id_field="record_id"
)


@dataclass
class Face:
    """A scoring face: its contract, no outputs; `score` as the challenger's (optionally failing, slow)."""

    input_contract: InputContract = CONTRACT
    output_fields: tuple[Any, ...] = ()
    fail: bool = False
    delay: float = 0.0

    def score(self, rows: Any, explain: bool = False, related: Any = None) -> dict[str, Any]:
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("challenger broken")
        return {"probability": np.full(len(rows["size"]), 0.5)}


@dataclass
class Loaded:
    name: str
    version: str
    model: Face
    profile: Any = None


@dataclass
class Batch:
    """The part of `ValidBatch` the monitor reads."""

    frame: pd.DataFrame
    calls: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frame)

    def as_frame(self) -> pd.DataFrame:
        return self.frame

    def rows(self) -> dict[str, list[Any]]:
        return {k: list(v) for k, v in self.frame.items()}


def _setup(tmp_path: Path, **kwargs: Any) -> tuple[Monitor, ServiceMetrics, StoreHealth, Loaded]:
    metrics = ServiceMetrics()
    health = StoreHealth()
    store = MonitoringStore(tmp_path / "monitoring.db", busy_seconds=0.2, health=health)
    monitor = Monitor(store, DriftThresholds(min_rows=1), 100, 0.0, metrics, **kwargs)
    frame = pd.DataFrame({"record_id": ["a", "b", "c"], "size": [1.0, 2.0, 3.0]})
    profile = reference_profile(CONTRACT, frame, np.array([0.1, 0.5, 0.9]))
    return monitor, metrics, health, Loaded("toy", "1", Face(), profile)


def _value(metrics: ServiceMetrics, name: str, model: str = "toy") -> float:
    found = metrics.registry.get_sample_value(name, {"model": model})
    return 0.0 if found is None else float(found)


def _batch(n: int = 3) -> Batch:
    return Batch(pd.DataFrame({"record_id": [f"r{i}" for i in range(n)], "size": np.arange(n, dtype=float)}))


def test_entries_are_written_in_the_background_and_flushed(tmp_path: Path) -> None:
    monitor, _, _, loaded = _setup(tmp_path)
    ids = monitor.keep(loaded, _batch(), np.array([0.2, 0.4, 0.6]), None, "CMA A")  # type: ignore[arg-type]
    assert monitor.flush(5.0)
    kept = monitor.store.predictions("toy")
    assert kept["prediction_id"].tolist() == list(ids) and (kept["source"] == "api").all()
    state = monitor.drift(loaded)  # type: ignore[arg-type]
    assert state is not None and state.rows == 3
    monitor.close()


def test_a_failing_store_refuses_the_next_scores_until_it_recovers(tmp_path: Path) -> None:
    """A write that fails in the background is counted as lost and marks the store failing; while it
    fails, an entry is written before the answer (so the request gets the 503, not an id that is not
    kept); once the store is back, the next entry is kept and the store is healthy again."""
    monitor, metrics, health, loaded = _setup(tmp_path)
    with monitor.store.engine.begin() as con:
        con.execute(text("DROP TABLE predictions"))
    monitor.keep(loaded, _batch(), np.array([0.2, 0.4, 0.6]), None)  # type: ignore[arg-type]
    monitor.flush(5.0)
    assert _value(metrics, "cma_monitoring_lost_total") == 3
    assert MONITORING in health.failing()
    with pytest.raises(StoreUnavailable) as refused:
        monitor.keep(loaded, _batch(), np.array([0.2, 0.4, 0.6]), None)  # type: ignore[arg-type]
    assert refused.value.status_code == 503 and refused.value.details[0]["store"] == MONITORING
    with monitor.store.engine.begin() as con:  # the operator restores the table
        con.execute(text("DELETE FROM alembic_version"))
    migrate(tmp_path / "monitoring.db", MONITORING)
    ids = monitor.keep(loaded, _batch(), np.array([0.2, 0.4, 0.6]), None)  # type: ignore[arg-type]
    assert MONITORING not in health.failing()
    assert monitor.store.predictions("toy")["prediction_id"].tolist() == list(ids)
    monitor.close()


def test_the_queue_is_bounded(tmp_path: Path) -> None:
    """With one batch waiting at most, a second request waits for room instead of queueing without end."""
    monitor, _, _, loaded = _setup(tmp_path, keep_queue=1)
    release = threading.Event()
    original = monitor.store.record

    def slow_record(*args: Any, **kwargs: Any) -> None:
        release.wait(5.0)
        original(*args, **kwargs)

    monitor.store.record = slow_record  # type: ignore[method-assign]
    monitor.keep(loaded, _batch(), np.array([0.2, 0.4, 0.6]), None)  # type: ignore[arg-type]
    second = threading.Thread(
        target=monitor.keep, args=(loaded, _batch(), np.array([0.2, 0.4, 0.6]), None), daemon=True
    )
    second.start()
    second.join(0.3)
    assert second.is_alive(), "the second request waits for the first entry to be written"
    release.set()
    second.join(5.0)
    assert not second.is_alive()
    monitor.flush(5.0)
    assert len(monitor.store.predictions("toy")) == 6
    monitor.close()


def test_a_failing_or_slow_challenger_never_reaches_the_answer(tmp_path: Path) -> None:
    monitor, metrics, _, loaded = _setup(tmp_path, shadow_queue=1)
    broken = Loaded("toy@challenger", "2", Face(fail=True), loaded.profile)
    ids = monitor.keep(loaded, _batch(), np.array([0.2, 0.4, 0.6]), None)  # type: ignore[arg-type]
    assert monitor.shadow("toy", broken, _batch(), ids, None)  # type: ignore[arg-type]
    monitor.flush(5.0)
    assert _value(metrics, "cma_shadow_errors_total") == 1
    slow = Loaded("toy@challenger", "2", Face(delay=0.5), loaded.profile)
    start = time.perf_counter()
    assert monitor.shadow("toy", slow, _batch(), ids, None)  # type: ignore[arg-type]
    assert not monitor.shadow("toy", slow, _batch(), ids, None), "the queue holds one batch"  # type: ignore[arg-type]
    assert time.perf_counter() - start < 0.2, "shadowing never waits for the challenger"
    assert _value(metrics, "cma_shadow_skipped_total") == 1
    monitor.flush(5.0)
    kept = monitor.store.predictions("toy")
    assert (kept["role"] == "challenger").sum() == 3 and _value(metrics, "cma_shadow_rows_total") == 3
    monitor.close()
    assert not monitor.shadow("toy", slow, _batch(), ids, None), "closed: not shadowed"  # type: ignore[arg-type]
    late = monitor.keep(loaded, _batch(), np.array([0.2, 0.4, 0.6]), None)  # type: ignore[arg-type]
    assert len(late) == 3, "closed: kept before answering"
