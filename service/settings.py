"""Service settings, from the environment (prefix `CMA_`) or a `.env` file; never secrets in the repo."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Where the service finds its models, keys and audit log, and its limits."""

    model_config = SettingsConfigDict(env_prefix="CMA_", env_file=".env", extra="ignore")

    predict_home: Path = Field(default=Path("var"), description="Project data folder (CMA_PREDICT_HOME)")
    tracking_uri: str | None = Field(default=None, description="MLflow URI (default: <home>/mlflow.db)")
    keys_db: Path | None = Field(default=None, description="API keys store (default: <home>/service/keys.db)")
    audit_db: Path | None = Field(default=None, description="Audit log (default: <home>/service/audit.db)")
    rate_limit_per_minute: int = Field(default=1200, ge=1, description="Requests per minute and key")
    max_batch: int = Field(default=10_000, ge=1, le=100_000)
    session_minutes: int = Field(default=480, ge=1, description="Sign-in duration of the diagnostic page")
    cookie_secure: bool | None = Field(
        default=None, description="Secure flag of the session cookie (default: when served over HTTPS)"
    )
    models: tuple[str, ...] = ("apprenticeship_host", "dropout_risk", "site_survival_3y", "site_survival_5y")

    @field_validator("predict_home")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve()

    def resolved_tracking_uri(self) -> str:
        """The MLflow URI to load champions from."""
        return self.tracking_uri or f"sqlite:///{self.predict_home / 'mlflow.db'}"

    def keys_path(self) -> Path:
        """API keys database file."""
        return self.keys_db or self.predict_home / "service" / "keys.db"

    def audit_path(self) -> Path:
        """Audit log database file."""
        return self.audit_db or self.predict_home / "service" / "audit.db"
