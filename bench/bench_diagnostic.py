"""Benchmark of the advisors' report over real HTTP, warm: the HTML page and the PDF, next to the JSON
diagnostic route of the API on the same projects (the same diagnostic without the map, text and layout).
Targets: HTML under 500 ms, PDF under 3 s on 2 cores.

Needs trained champions and the site store (`make run` or `cma-predict run`). Usage:
    python bench/bench_diagnostic.py [--home var] [--requests 20]
Only loopback addresses are used; every loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402

PROJECTS = [
    ("96.02A", "33063"),
    ("10.71C", "69384"),
    ("43.22A", "2A004"),
    ("45.20A", "59350"),
    ("96.02B", "13201"),
]


def _line(name: str, ms: np.ndarray, target_ms: float | None = None) -> str:
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    verdict = (
        ""
        if target_ms is None
        else f"  (target {target_ms:,.0f} ms: {'met' if p99 < target_ms else 'MISSED'})"
    )
    return f"  {name:<32} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms{verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", default="var")
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    home = Path(args.home).resolve()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"
    import uvicorn

    from service.app import create_app
    from service.keys import KeyStore
    from service.settings import ServiceSettings

    tmp = Path(tempfile.mkdtemp())
    key, _ = KeyStore(tmp / "keys.db").create("advisor", "bench")
    settings = ServiceSettings(
        predict_home=home, keys_db=tmp / "keys.db", audit_db=tmp / "audit.db", rate_limit_per_minute=100_000
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    base = f"http://127.0.0.1:{port}"
    print(f"machine: {machine()}; {len(PROJECTS)} projects, {args.requests} requests each, warm")
    client = httpx.Client(base_url=base, timeout=60)
    try:
        client.post("/diagnostic/connexion", data={"cle": key})
        timings: dict[str, list[float]] = {"api": [], "html": [], "pdf": []}
        for naf, commune in PROJECTS:
            for _ in range(2):  # warm-up: indicator table of the activity, contours
                client.get("/diagnostic", params={"activite": naf, "commune": commune}).raise_for_status()
                client.get(
                    "/diagnostic/rapport.pdf", params={"naf": naf, "commune": commune}
                ).raise_for_status()
            for _ in range(args.requests):
                start = time.perf_counter()
                client.post(
                    "/v1/site-potential/diagnostics",
                    json={"naf_code": naf, "commune_code": commune},
                    headers={"X-API-Key": key},
                ).raise_for_status()
                timings["api"].append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                client.get("/diagnostic", params={"activite": naf, "commune": commune}).raise_for_status()
                timings["html"].append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                client.get(
                    "/diagnostic/rapport.pdf", params={"naf": naf, "commune": commune}
                ).raise_for_status()
                timings["pdf"].append((time.perf_counter() - start) * 1000)
        print(_line("JSON diagnostic (API, reference)", np.array(timings["api"])))
        print(_line("HTML report page", np.array(timings["html"]), 500))
        print(_line("PDF report", np.array(timings["pdf"]), 3000))
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=20)


if __name__ == "__main__":
    main()
