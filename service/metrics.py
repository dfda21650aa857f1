"""Prometheus metrics of the service: requests, latency, rows scored, errors, model versions, store
failures, cancelled requests, and the monitoring's: drift per model and feature, shadow scores."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    """One registry per app (tests create several apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cma_requests_total", "HTTP requests", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "cma_request_seconds",
            "Request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.rows = Counter("cma_rows_scored_total", "Records scored", ["model"], registry=self.registry)
        self.rejected = Counter(
            "cma_rows_rejected_total", "Records rejected", ["model"], registry=self.registry
        )
        self.version = Gauge("cma_model_version", "Serving model version", ["model"], registry=self.registry)
        self.store_errors = Counter(
            "cma_store_errors_total",
            "Store failures (locked, full, io, unreadable) and incidents (deleted)",
            ["store", "kind"],
            registry=self.registry,
        )
        self.cancelled = Counter(
            "cma_requests_cancelled_total",
            "Scoring requests stopped because their client went away",
            ["model"],
            registry=self.registry,
        )
        self.audit_denied_dropped = Counter(
            "cma_audit_denied_dropped_total",
            "Refused requests (401, 403, 429) past the audit budget: counted, not written",
            registry=self.registry,
        )
        self.drift_psi = Gauge(
            "cma_drift_psi",
            "Population stability index of each input (and of the scores, feature=score) of the serving "
            "version against its reference profile, on its latest live records",
            ["model", "feature"],
            registry=self.registry,
        )
        self._drift_features: dict[str, set[str]] = {}
        self.drift_alert = Gauge(
            "cma_drift_alert",
            "1 when an input or the scores of the serving version have drifted past their threshold",
            ["model"],
            registry=self.registry,
        )
        self.shadow_rows = Counter(
            "cma_shadow_rows_total",
            "Records shadow-scored by a challenger",
            ["model"],
            registry=self.registry,
        )
        self.shadow_skipped = Counter(
            "cma_shadow_skipped_total",
            "Batches not shadow-scored because the challenger's queue was full",
            ["model"],
            registry=self.registry,
        )
        self.monitoring_lost = Counter(
            "cma_monitoring_lost_total",
            "Scores answered whose monitoring entry could not be written (the store failed meanwhile)",
            ["model"],
            registry=self.registry,
        )
        self.shadow_errors = Counter(
            "cma_shadow_errors_total", "Shadow scores that failed", ["model"], registry=self.registry
        )

    def set_drift(self, state: Any) -> None:
        """The gauges of one model's drift state (`service.monitoring.DriftState`): every feature of its
        serving version (NaN while it is not judged), none left from a version served before."""
        features = {str(f) for f in state.table["feature"]}
        for old in self._drift_features.get(state.model, set()) - features:
            self.drift_psi.remove(state.model, old)
        self._drift_features[state.model] = features
        for row in state.table.itertuples(index=False):
            self.drift_psi.labels(state.model, row.feature).set(float(row.psi))
        self.drift_alert.labels(state.model).set(1.0 if state.alerts else 0.0)
