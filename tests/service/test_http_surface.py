"""The HTTP surface, through HTTP: one error contract for every status (404, 405, unreadable bodies and
multipart, 413, 500), a request-body limit that refuses a 51 MB body before reading it (in a real uvicorn,
its memory measured), the OpenAPI `text/csv` examples scored by the routes they document, and `/docs`
served without a public CDN."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service import messages
from service.app import create_app
from service.middleware import INTERNAL_ERROR, METHOD_NOT_ALLOWED, UNREADABLE_BODY
from tests.service.conftest import Served, contract_records

DROPOUT = "/v1/dropout-risk/scores"
SIGN_IN = "/diagnostic/connexion"
BODY_MB = 51


def _contract(response: httpx.Response, status: int) -> dict[str, Any]:
    """The answer is the error contract, as JSON, with this status."""
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "message", "details"} and body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_unknown_path_and_method_answer_the_error_contract(client: TestClient, served: Served) -> None:
    assert _contract(client.get("/v1/nothing-here"), 404)["message"] == messages.NOT_FOUND
    wrong_method = client.get(DROPOUT, headers={"X-API-Key": served.keys["agent"]})
    assert _contract(wrong_method, 405)["message"] == METHOD_NOT_ALLOWED
    assert wrong_method.headers["allow"] == "POST", "the error's own headers are kept"
    assert _contract(client.get("/redoc"), 404)["message"] == messages.NOT_FOUND, "ReDoc is not served"


def test_unreadable_bodies_answer_the_error_contract(client: TestClient, served: Served) -> None:
    headers = {"X-API-Key": served.keys["agent"]}
    no_boundary = client.post(
        f"{DROPOUT}.csv", content=b"a;b\n1;2\n", headers={**headers, "content-type": "multipart/form-data"}
    )
    assert _contract(no_boundary, 400) and "Missing boundary" not in no_boundary.text
    form = client.post(SIGN_IN, content=b"cle=x", headers={"content-type": "multipart/form-data"})
    assert _contract(form, 400)["message"] == UNREADABLE_BODY and "boundary" not in form.text
    no_file = client.post(
        f"{DROPOUT}.csv",
        content=b"--zz\r\nnothing",
        headers={**headers, "content-type": "multipart/form-data; boundary=zz"},
    )
    assert _contract(no_file, 422)["details"][0]["field"] == "body.file"
    not_a_form = client.post(SIGN_IN, content=b"cle=x", headers={"content-type": "text/plain"})
    assert _contract(not_a_form, 422)["message"] == messages.INVALID_REQUEST
    bad_json = client.post(DROPOUT, content=b"{not json", headers=headers)
    assert _contract(bad_json, 422)["message"] == messages.INVALID_REQUEST


def test_an_unexpected_error_answers_500_without_its_text(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "73282932000074 Dupont"

    def broken() -> list[str]:
        raise ValueError(f"SIRET {secret} mal lu")

    with TestClient(create_app(served.settings)) as client:
        monkeypatch.setattr(client.app.state.registry, "served", broken)  # type: ignore[attr-defined]
        with caplog.at_level(logging.ERROR, logger="service.middleware"):
            answer = client.get("/v1/models", headers={"X-API-Key": served.keys["agent"]})
        assert client.get("/health").status_code == 200, "the service keeps answering"
    assert _contract(answer, 500)["message"] == INTERNAL_ERROR
    assert secret not in answer.text and "Traceback" not in answer.text and "ValueError" not in answer.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "ValueError" in logged and "/v1/models" in logged, "logged server-side, with where it happened"
    assert secret not in logged and "broken" in logged, "the exception's text (submitted values) is not"


def test_a_body_over_the_limit_is_refused_before_it_is_read(client: TestClient, served: Served) -> None:
    headers = {"X-API-Key": served.keys["agent"], "content-type": "application/json"}
    declared = client.post(DROPOUT, content=_json_body(BODY_MB * 10**6), headers=headers)
    assert _contract(declared, 413)["message"].startswith("Corps de requête trop volumineux : 16 Mo")
    chunked = client.post(DROPOUT, content=_chunks(BODY_MB * 10**6), headers=headers)
    assert "content-length" not in chunked.request.headers
    _contract(chunked, 413)
    # Just under the limit is read as usual (here: too many records, by the batch limit, 422).
    records = contract_records(served.dropout_rows, 1) * 10_001
    under = json.dumps({"contracts": records}).encode()
    assert len(under) < 16 * 10**6
    assert client.post(DROPOUT, content=under, headers=headers).status_code == 422
    small = {"X-API-Key": served.keys["agent"]}
    ok = client.post(DROPOUT, json={"contracts": contract_records(served.dropout_rows, 2)}, headers=small)
    assert ok.status_code == 200


_RECORD = json.dumps(
    {
        "contract_id": "C-1",
        "contract_start": "2024-09-02",
        "planned_end": "2026-08-31",
        "diploma": "CAP",
        "naf_code": "96.02A",
    }
).encode()


def _chunks(size: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """A JSON body of `size` bytes (records under `contracts`), in pieces of `chunk` bytes."""
    piece = (_RECORD + b",") * (chunk // (len(_RECORD) + 1))
    yield b'{"contracts": ['
    sent = 0
    while sent + len(piece) < size:
        yield piece
        sent += len(piece)
    yield _RECORD + b"]}"


def _json_body(size: int) -> bytes:
    return b"".join(_chunks(size))


def _memory(pid: int) -> dict[str, int]:
    """Resident memory of a process and its peak since the last reset, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {k: int(re.search(rf"{k}:\s+(\d+) kB", status).group(1)) * 1024 for k in ("VmRSS", "VmHWM")}  # type: ignore[union-attr]


@pytest.fixture()
def server(served: Served, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A real uvicorn serving the trained champions, in its own process (its memory is its own)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "CMA_PREDICT_HOME": str(served.home),
        "CMA_KEYS_DB": str(served.settings.keys_path()),
        "CMA_AUDIT_DB": str(served.settings.audit_path()),
        "CMA_RATE_LIMIT_PER_MINUTE": "10000",
    }
    code = (
        "import uvicorn; from service.app import create_app; "
        f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')"
    )
    process = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), body


def _post_chunked(port: int, key: str, body: Iterator[bytes]) -> tuple[int, bytes, int]:
    """POST a chunked body, stopping as soon as the server answers; the status, the answer and the bytes
    of the body sent before it came."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"POST {DROPOUT} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        sent = 0
        for chunk in body:
            if select.select([sock], [], [], 0)[0]:
                break
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        else:
            sock.sendall(b"0\r\n\r\n")
        status, answer = _read_response(sock)
    return status, answer, sent


def test_a_real_server_refuses_51_mb_without_holding_it(server: tuple[int, int], served: Served) -> None:
    port, pid = server
    key = served.keys["agent"]
    records = {"contracts": contract_records(served.dropout_rows, 2)}
    warm = httpx.post(f"http://127.0.0.1:{port}{DROPOUT}", json=records, headers={"X-API-Key": key})
    assert warm.status_code == 200

    # Declared too large: answered at once, without the body ever being sent.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        start = time.perf_counter()
        sock.sendall(
            f"POST {DROPOUT} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {BODY_MB * 10**6}\r\n\r\n".encode()
        )
        status, answer = _read_response(sock)
    assert status == 413 and json.loads(answer)["status"] == 413
    assert time.perf_counter() - start < 5, "not after waiting for a body that never comes"

    # Chunked (no length): reading stops at the limit; the server's peak memory does not take the body.
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
    before = _memory(pid)
    start = time.perf_counter()
    status, answer, sent = _post_chunked(port, key, _chunks(BODY_MB * 10**6))
    elapsed = time.perf_counter() - start
    after = _memory(pid)
    assert status == 413 and json.loads(answer)["message"].startswith("Corps de requête trop volumineux")
    assert sent < BODY_MB * 10**6 * 0.75, f"answered after {sent / 1e6:.0f} MB sent, not at the end"
    peak = after["VmHWM"] - before["VmRSS"]
    assert peak < BODY_MB * 10**6 * 0.6, f"peak memory grew by {peak / 1e6:.0f} MB"
    assert elapsed < 10
    print(f"413 after {sent / 1e6:.1f} MB sent, {elapsed:.2f} s; server peak +{peak / 1e6:.1f} MB")
    assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200


def _csv_examples(document: dict[str, object]) -> list[tuple[str, str]]:
    """(path, CSV body) of every documented `text/csv` example of a POST route."""
    found = []
    for path, item in document["paths"].items():  # type: ignore[attr-defined]
        content = item.get("post", {}).get("requestBody", {}).get("content", {}).get("text/csv")
        if content is None:
            continue
        assert "example" in content or "examples" in content, f"{path} documents no CSV example"
        if "example" in content:
            found.append((path, content["example"]))
        for name, example in content.get("examples", {}).items():
            found.append((path.replace("{name}", name), example["value"]))
    return found


def test_every_documented_csv_example_is_scored_by_its_route(client: TestClient, served: Served) -> None:
    document = client.get("/openapi.json").json()
    examples = _csv_examples(document)
    paths = {path for path, _ in examples}
    assert {"/v1/apprenticeship-host/scores", DROPOUT, "/v1/models/dropout_risk/scores"} <= paths
    headers = {"X-API-Key": served.keys["agent"], "content-type": "text/csv"}
    for path, body in examples:
        answer = client.post(path, content=body.encode(), headers=headers)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json()["scored"] == 1 and answer.json()["rejected"] == 0, path
    by_path = dict(examples)
    dropout_header = next(csv.reader(io.StringIO(by_path[DROPOUT]), delimiter=";"))
    json_example = document["paths"][DROPOUT]["post"]["requestBody"]["content"]["application/json"]
    schema = document["components"]["schemas"][json_example["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(dropout_header) == set(schema["examples"][0]["contracts"][0]), "its own request example"
    assert "siret" not in dropout_header and dropout_header[0] == "contract_id"
    assert (
        next(csv.reader(io.StringIO(by_path["/v1/apprenticeship-host/scores"]), delimiter=";"))[0] == "siret"
    )


def test_docs_load_nothing_from_a_public_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]*)"', page.text) + re.findall(r'data-openapi="([^"]*)"', page.text)
    assert len(urls) >= 4
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert client.get(url).status_code == 200, url
    assert "<style" not in page.text and all("src=" in tag for tag in re.findall(r"<script[^>]*>", page.text))
    assert "cdn" not in page.text.lower() and "http" not in page.text
    init = client.get("/docs/static/swagger-init.js")
    assert init.headers["content-type"].startswith("text/javascript") and "http" not in init.text
    assert _contract(client.get("/docs/static/redoc.standalone.js"), 404), "only the files /docs uses"
