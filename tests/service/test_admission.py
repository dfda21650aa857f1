"""Admission of scoring work (`service.admission`): per-key and large-request bounds, chunked scoring that
gives the same scores, and a request whose client went away stops and is audited."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator

import numpy as np
import orjson
import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from service.admission import Admission
from service.app import create_app
from service.scoring import score_rows
from tests.service.conftest import Served, company_records
from tests.service.real_server import server_in_thread


def test_a_key_over_its_bound_waits_then_gets_429_while_other_keys_pass() -> None:
    async def scenario() -> tuple[int, bool]:
        admission = Admission(per_key=1, large=1, large_bytes=1_000, wait_seconds=0.2)
        async with admission.slot("heavy", 10):
            with pytest.raises(HTTPException) as refused:
                async with admission.slot("heavy", 10):
                    pass
            async with admission.slot("other", 10):  # another key is not held up
                other_passed = True
        return refused.value.status_code, other_passed

    status, other_passed = asyncio.run(scenario())
    assert status == 429 and other_passed


def test_large_requests_take_turns_across_keys_small_ones_do_not_wait() -> None:
    async def scenario() -> list[str]:
        admission = Admission(per_key=4, large=1, large_bytes=1_000, wait_seconds=5)
        order: list[str] = []

        async def large(name: str, hold: float) -> None:
            async with admission.slot(name, 5_000):
                order.append(f"{name} in")
                await asyncio.sleep(hold)
                order.append(f"{name} out")

        async def small() -> None:
            await asyncio.sleep(0.01)
            async with admission.slot("c", 10):
                order.append("small")

        await asyncio.gather(large("a", 0.1), large("b", 0.0), small())
        return order

    order = asyncio.run(scenario())
    assert order.index("a out") < order.index("b in")  # one large request at a time
    assert order.index("small") < order.index("a out")  # a small one does not queue behind it


def test_chunked_scoring_gives_the_same_scores(client: TestClient, served: Served) -> None:
    loaded = client.app.state.registry.get("apprenticeship_host")  # type: ignore[attr-defined]
    rows = company_records(served.host_rows, 2_500)
    whole = score_rows(loaded.model, rows, len(rows), True, None)
    chunked = score_rows(loaded.model, rows, len(rows), True, None, threading.Event(), chunk_rows=700)
    np.testing.assert_array_equal(chunked["probability"], whole["probability"])
    assert list(chunked["percentile"]) == list(whole["percentile"])
    assert chunked["reasons"] == whole["reasons"]


@pytest.fixture()
def server(served: Served) -> Iterator[int]:
    # Small chunks: a 10,000-record request takes seconds to score, so the client surely leaves during it.
    settings = served.settings.model_copy(update={"score_chunk_rows": 10})
    with server_in_thread(create_app(settings)) as base:
        yield int(base.rsplit(":", 1)[1])


def test_an_abandoned_request_stops_and_is_audited(served: Served, server: int) -> None:
    records = company_records(served.host_rows, 3_000)
    body = orjson.dumps({"companies": records * 3 + records[:1_000]})  # 10,000 records, reasons on
    head = (
        f"POST /v1/apprenticeship-host/scores HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"X-API-Key: {served.keys['agent']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server)) as connection:
        connection.sendall(head + body)
        time.sleep(0.5)  # the body is read, the scoring has begun
    # The client is gone while its batch is scored: the scoring stops, the request's entry says so.
    deadline = time.monotonic() + 30
    rows: list[tuple[object, ...]] = []
    while time.monotonic() < deadline and not rows:
        time.sleep(0.1)
        with sqlite3.connect(served.settings.audit_path()) as con:
            query = "SELECT rows, status FROM audit WHERE route LIKE '%apprenticeship%'"
            rows = con.execute(query).fetchall()
    assert rows == [(0, 499)]
