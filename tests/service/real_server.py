"""A real uvicorn server in a subprocess (`service.app:create_app`, settings through CMA_ variables), for the
tests that need real worker processes or a real event loop; or in a thread of the test process
(`server_in_thread`), for the tests that need a real HTTP server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

SERVE = (
    "import sys, uvicorn; uvicorn.run('service.app:create_app', factory=True, host='127.0.0.1', "
    "port=int(sys.argv[1]), workers=int(sys.argv[2]), log_level='info')"
)
STARTED = b"Application startup complete."


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def real_server(
    env: dict[str, str], log: Path, workers: int = 1, wrapper: Sequence[str] = ()
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start uvicorn with `workers` processes and the CMA_ settings `env` (its output in `log`); yields
    (base URL, process) once every worker has started. `wrapper`: a command line the server runs under
    (e.g. `unshare -m sh -c '...; exec "$@"' sh`)."""
    port = free_port()
    command = [*wrapper, sys.executable, "-c", SERVE, str(port), str(workers)]
    out = open(log, "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        cwd=Path(__file__).resolve().parents[2],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            if log.read_bytes().count(STARTED) >= workers:  # every worker's lifespan done
                break
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in 180 s")
            time.sleep(0.2)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        out.close()


def served_env(home: Path, folder: Path, **extra: str) -> dict[str, str]:
    """The CMA_ settings of a server on the trained `home`, with its stores in `folder`."""
    env = {
        "CMA_PREDICT_HOME": str(home),
        "CMA_KEYS_DB": str(folder / "keys.db"),
        "CMA_AUDIT_DB": str(folder / "audit.db"),
        "CMA_RATE_LIMIT_PER_MINUTE": "10000",
    }
    return {**env, **extra}


@contextmanager
def server_in_thread(app: Any) -> Iterator[str]:
    """Serve `app` (lifespan included) with a real uvicorn in a thread of this process, on a free loopback
    port; yields its base URL once it has started."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
