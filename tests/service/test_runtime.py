"""The serving process's allocator settings (`service.runtime`), as the app's start-up leaves them."""

from __future__ import annotations

import pyarrow as pa
from fastapi.testclient import TestClient


def test_the_service_runs_arrow_on_the_system_allocator(client: TestClient) -> None:
    # Arrow's jemalloc pool kept a large request's memory: the service's memory grew 12-14 % under load.
    assert client.get("/health").status_code == 200
    assert pa.default_memory_pool().backend_name == "system"
