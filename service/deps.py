"""Dependency aliases of the routes (async: attribute look-ups need no worker thread)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.audit import AuditLog
from service.keys import ApiKey
from service.model_registry import ModelRegistry
from service.security import require_role
from service.settings import ServiceSettings


async def get_registry(request: Request) -> ModelRegistry:
    """The champions in memory."""
    return request.app.state.registry


async def get_audit(request: Request) -> AuditLog:
    """The audit log."""
    return request.app.state.audit


async def get_settings(request: Request) -> ServiceSettings:
    """The service settings."""
    return request.app.state.settings


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
AgentKey = Annotated[ApiKey, Depends(require_role("agent"))]
AdvisorKey = Annotated[ApiKey, Depends(require_role("advisor"))]
AdminKey = Annotated[ApiKey, Depends(require_role("admin"))]
AnyKey = Annotated[ApiKey, Depends(require_role("any"))]
