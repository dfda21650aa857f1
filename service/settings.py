"""Service settings, from the environment (prefix `CMA_`) or a `.env` file; never secrets in the repo."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.site_potential import survival_model_names


class ServiceSettings(BaseSettings):
    """Where the service finds its models, keys and audit log, and its limits."""

    model_config = SettingsConfigDict(env_prefix="CMA_", env_file=".env", extra="ignore")

    predict_home: Path = Field(default=Path("var"), description="Project data folder (CMA_PREDICT_HOME)")
    tracking_uri: str | None = Field(default=None, description="MLflow URI (default: <home>/mlflow.db)")
    database_url: str | None = Field(
        default=None,
        description="State database shared by every worker and machine (keys, sessions, audit, rate limits), "
        "e.g. postgresql://cma@db.example/cma_state (CMA_DATABASE_URL; default: the SQLite files below)",
    )
    keys_db: Path | None = Field(default=None, description="API keys store (default: <home>/service/keys.db)")
    audit_db: Path | None = Field(default=None, description="Audit log (default: <home>/service/audit.db)")
    monitoring_db: Path | None = Field(
        default=None,
        description="What was scored and the outcomes that came back (default: <home>/service/monitoring.db)",
    )
    drift_psi: float = Field(
        default=0.2,
        gt=0,
        description="PSI of an input or of the scores past which it has drifted (CMA_DRIFT_PSI)",
    )
    drift_min_rows: int = Field(
        default=500, ge=1, description="Fewest live records of a model version before its drift is judged"
    )
    drift_window: int = Field(
        default=5_000, ge=1, description="Latest records of the serving version compared with its reference"
    )
    drift_cache_seconds: float = Field(
        default=10.0, ge=0, description="How long a computed drift state is reused by /ready and /metrics"
    )
    shadow_queue: int = Field(
        default=8,
        ge=0,
        description="Batches waiting for their challenger's shadow score; beyond, a batch is not shadowed "
        "(counted in cma_shadow_skipped_total); 0 turns shadow scoring off",
    )
    rate_limit_per_minute: int = Field(default=1200, ge=1, description="Requests per minute and key")
    ratelimit_db: Path | None = Field(
        default=None, description="Rate limits shared by the workers (default: beside keys.db, ratelimit.db)"
    )
    auth_failures_per_minute: int = Field(
        default=30, ge=1, description="Failed authentications per minute and client address (then 429)"
    )
    sign_in_attempts_per_minute: int = Field(
        default=10, ge=1, description="Sign-in attempts of the diagnostic page per minute and client address"
    )
    store_busy_seconds: float = Field(
        default=0.25, gt=0, le=5, description="Longest wait for a lock on keys.db or ratelimit.db (then 503)"
    )
    audit_busy_seconds: float = Field(
        default=0.5, gt=0, le=5, description="Longest wait for a lock on the audit log (then 503)"
    )
    max_batch: int = Field(default=10_000, ge=1, le=100_000)
    max_concurrent_per_key: int = Field(
        default=2,
        ge=1,
        description="Scoring requests of one key computed at once; the others wait their turn",
    )
    max_concurrent_large: int = Field(
        default=max(1, (os.cpu_count() or 2) - 1),
        ge=1,
        description="Large scoring requests computed at once across keys (default: one core fewer than the "
        "machine has, so small requests always find one)",
    )
    large_request_bytes: int = Field(
        default=100_000, ge=1, description="Body size from which a request is large"
    )
    score_chunk_rows: int = Field(
        default=2_000, ge=1, description="Rows scored between two looks at whether the client is still there"
    )
    admission_wait_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait for a scoring slot before a 429"
    )
    session_minutes: int = Field(default=480, ge=1, description="Sign-in duration of the diagnostic page")
    cookie_secure: bool | None = Field(
        default=None, description="Secure flag of the session cookie (default: when served over HTTPS)"
    )
    hsts: bool | None = Field(
        default=None, description="Send Strict-Transport-Security (default: when served over HTTPS; CMA_HSTS)"
    )
    max_body_mb: float = Field(
        default=16,
        gt=0,
        le=1024,
        description="Largest request body in MB (10,000 records with all their fields: about 6 MB); then 413",
    )
    site_model_suffix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="Suffix of the survival models the diagnostic uses, e.g. _lyon4e (CMA_SITE_MODEL_SUFFIX)",
    )
    discover_models: bool = Field(
        default=True, description="Serve every registered model carrying `model_alias` (CMA_DISCOVER_MODELS)"
    )
    model_alias: str = Field(default="champion", description="The alias served (CMA_MODEL_ALIAS)")
    models: tuple[str, ...] = Field(
        default=(),
        description="Models served besides (or, without discovery, instead of) the discovered ones: "
        "`name` or `name@alias`, e.g. CMA_MODELS='[\"dropout_risk_cfa_exemple@challenger\"]'",
    )

    @field_validator("predict_home")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve()

    @model_validator(mode="after")
    def _suffixed_site_models(self) -> ServiceSettings:
        """With a site model suffix, serve the suffixed survival models in place of the plain ones."""
        if self.site_model_suffix:
            plain, suffixed = survival_model_names(), survival_model_names(self.site_model_suffix)
            rename = {plain[horizon]: suffixed[horizon] for horizon in plain}
            self.models = tuple(dict.fromkeys(rename.get(name, name) for name in self.models))
        return self

    def resolved_tracking_uri(self) -> str:
        """The MLflow URI to load champions from."""
        return self.tracking_uri or f"sqlite:///{self.predict_home / 'mlflow.db'}"

    def keys_target(self) -> Path | str:
        """Where the keys and sessions are: the state database URL, else keys.db."""
        return self.database_url or self.keys_path()

    def audit_target(self) -> Path | str:
        """Where the audit log is: the state database URL, else audit.db."""
        return self.database_url or self.audit_path()

    def ratelimit_target(self) -> Path | str:
        """Where the rate-limit counters are: the state database URL, else ratelimit.db."""
        return self.database_url or self.ratelimit_path()

    def monitoring_target(self) -> Path | str:
        """Where the predictions and outcomes are kept: the state database URL, else monitoring.db."""
        return self.database_url or self.monitoring_path()

    def monitoring_path(self) -> Path:
        """Monitoring database file."""
        return self.monitoring_db or self.predict_home / "service" / "monitoring.db"

    def keys_path(self) -> Path:
        """API keys database file."""
        return self.keys_db or self.predict_home / "service" / "keys.db"

    def ratelimit_path(self) -> Path:
        """Rate-limit database file (shared by every worker process)."""
        return self.ratelimit_db or self.keys_path().with_name("ratelimit.db")

    def audit_path(self) -> Path:
        """Audit log database file."""
        return self.audit_db or self.predict_home / "service" / "audit.db"
