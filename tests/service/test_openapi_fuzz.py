"""Property-based run over the service's own OpenAPI document (schemathesis), on a real uvicorn server.

Every documented operation is called with requests generated from its schema, valid and invalid
(schemathesis' positive and negative modes), once without a key and once with a key of each role.
Three properties must hold for every answer: no server error (5xx), a status code the document lists
for that operation, and a body (and content type) that matches the schema documented for that status.

The server runs on loopback with its lifespan (the champions are loaded from the session's trained
registry, as the `served` fixture does), the same process the agents reach. The run is bounded: a few
examples per operation and role, no shrinking, a request timeout, so it adds well under two minutes
to `make test` on 2 cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from tests.service.conftest import settings_and_keys
from tests.service.real_server import server_in_thread

# Requests generated per operation, role and mode (valid, invalid; the document's examples besides): 8
# keeps each role within about 15 s now that the monitoring routes are fuzzed too.
MAX_EXAMPLES = 8
# A request that takes longer is a hang, not a slow answer (the largest generated bodies score in < 1 s).
REQUEST_TIMEOUT_S = 30
ROLES = ("none", "agent", "advisor", "admin")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

pytestmark = pytest.mark.slow


class FuzzServer:
    """A real uvicorn serving the app on loopback, and a key of each role."""

    def __init__(self, base_url: str, keys: dict[str, str], models: list[str]) -> None:
        self.base_url = base_url
        self.keys = keys
        self.models = models

    def headers(self, role: str) -> dict[str, str]:
        """The key header of `role` (none for the anonymous run)."""
        return {} if role == "none" else {"X-API-Key": self.keys[role]}


@pytest.fixture(scope="module")
def fuzz_server(trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    """The `served` fixture's settings and keys, served by uvicorn for the whole module (lifespan run)."""
    service_settings, keys = settings_and_keys(trained_home, tmp_path_factory.mktemp("fuzz"))
    with server_in_thread(create_app(service_settings)) as base_url:
        served = httpx.get(f"{base_url}/v1/models", headers={"X-API-Key": keys["admin"]}, timeout=30)
        models = [model["name"] for model in served.json() if model["version"] is not None]
        assert models, "no champion was loaded"
        yield FuzzServer(base_url, keys, models)


@pytest.fixture(scope="module")
def api_schema(fuzz_server: FuzzServer) -> BaseSchema:
    """The OpenAPI document as the running server publishes it (with every served model's record schema)."""
    return schemathesis.openapi.from_url(f"{fuzz_server.base_url}/openapi.json", timeout=30)


# Few examples, no shrinking (a failure is reported as found), no deadline (a loaded machine is no bug).
BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
    report_multiple_bugs=False,
)


@dataclass
class Failure:
    """The first failing request of one operation in one generation mode."""

    operation: str
    mode: str
    checks: list[str]
    report: str


def _strategies(
    schema: BaseSchema, operation: APIOperation, models: list[str]
) -> Iterator[tuple[str, SearchStrategy[Case]]]:
    """The document's own examples, then valid and invalid generated requests; on a route taking a model's
    name, the same again with the name of each served model (a random name stops at the 404)."""
    for strategy in schema.get_strategies_from_examples(operation):
        yield "examples", strategy
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        yield mode.value, operation.as_strategy(mode)
    if "{name}" not in operation.path:
        return
    for model in models:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            yield f"{mode.value}, name={model}", operation.as_strategy(mode, path_parameters={"name": model})


def _first_failure(
    strategy: SearchStrategy[Case], server: FuzzServer, role: str
) -> Exception | FailureGroup | None:
    """Run the bounded examples of one strategy; the checks' failures of the first failing request (or the
    error that stopped it: a timeout, a dropped connection)."""

    @BOUNDED
    @given(case=strategy)
    def run(case: Case) -> None:
        case.call_and_validate(
            base_url=server.base_url, headers=server.headers(role), checks=CHECKS, timeout=REQUEST_TIMEOUT_S
        )

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (an operation without parameters nor body)
        return None
    except (Exception, FailureGroup) as error:  # FailureGroup is a BaseExceptionGroup
        return error
    return None


def _fuzz(schema: BaseSchema, server: FuzzServer, role: str) -> list[Failure]:
    """Every operation of the document, every strategy: the distinct failures (keys redacted)."""
    failures: list[Failure] = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(Failure("?", "document", ["InvalidSchema"], str(result.err())))
            continue
        operation = result.ok()
        failed_modes: set[str] = set()
        for mode, strategy in _strategies(schema, operation, server.models):
            if mode in failed_modes:  # one failing example of the document is enough
                continue
            error = _first_failure(strategy, server, role)
            if error is None:
                continue
            failed_modes.add(mode)
            report = str(error)
            for key in server.keys.values():
                report = report.replace(key, "<key>")
            if isinstance(error, FailureGroup):
                checks = sorted({failure.title for failure in error.exceptions})
            else:
                checks = [type(error).__name__]
            failures.append(Failure(operation.label, mode, checks, report))
    return failures


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_documented(
    api_schema: BaseSchema, fuzz_server: FuzzServer, role: str
) -> None:
    """No 5xx, only documented status codes, bodies matching their documented schema: without a key (401
    where one is needed) and with each role's key (403 on the routes of other roles)."""
    failures = _fuzz(api_schema, fuzz_server, role)
    summary = "\n".join(f"{f.operation} [{f.mode}]: {', '.join(f.checks)}" for f in failures)
    details = "\n\n".join(f"--- {f.operation} [{f.mode}]\n{f.report}" for f in failures)
    assert not failures, f"{len(failures)} failing operation(s) with role {role}:\n{summary}\n\n{details}"
