"""Prometheus metrics of the service: requests, latency, rows scored, errors, model versions, store
failures, cancelled requests."""

from __future__ import annotations

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
