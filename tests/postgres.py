"""A throw-away PostgreSQL cluster for tests: `initdb` in a temporary directory, `pg_ctl start` on a free
port of 127.0.0.1, one database per test, `pg_ctl stop` and the directory removed at the end.

PostgreSQL refuses to run as root, so when the tests run as root the server binaries run as the `postgres`
user (`runuser -u postgres --`) and the cluster directory is made under /tmp and handed to that user
(pytest's `tmp_path` is not traversable by another user). The Unix socket sits in that short directory too
(a socket path is limited to 107 bytes); clients connect over TCP.

Debian's `postgresql` package (installed by `make` when missing) puts the binaries in
/usr/lib/postgresql/<version>/bin; `PG_BIN` names another folder, else `initdb` on PATH is used.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

_DRIVER = "postgresql+psycopg"


def _bin_dir() -> Path | None:
    explicit = os.environ.get("PG_BIN")
    if explicit and (Path(explicit) / "initdb").is_file():
        return Path(explicit)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.parent.name.split(".")],
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    return None


def postgres_available() -> bool:
    """True when `initdb` and `pg_ctl` are found (and, as root, a `postgres` user to run them)."""
    bin_dir = _bin_dir()
    if bin_dir is None or not (bin_dir / "pg_ctl").is_file():
        return False
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return False
        return shutil.which("runuser") is not None
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PostgresCluster:
    """A running throw-away cluster; `stop()` shuts it down and removes its directory."""

    def __init__(self, directory: Path, port: int, bin_dir: Path) -> None:
        self.directory = directory
        self.port = port
        self.bin_dir = bin_dir
        self._stopped = False

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "log"

    def url(self, database: str = "postgres") -> str:
        return f"{_DRIVER}://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create a database (a fresh `t_<hex>` by default) and return its SQLAlchemy URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:16]}"
        if not name.replace("_", "").isalnum():
            raise ValueError(f"unsafe database name: {name!r}")
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            subprocess.run(
                _as_postgres(
                    [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"]
                ),
                check=False,
                capture_output=True,
                timeout=60,
            )
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_cluster(attempts: int = 3) -> PostgresCluster:
    """initdb + pg_ctl start on a free port (about 3 s); retried on another port if the first is taken."""
    bin_dir = _bin_dir()
    if bin_dir is None or not postgres_available():
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    directory = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))
    try:
        if os.geteuid() == 0:
            shutil.chown(directory, user="postgres", group="postgres")
        data = directory / "data"
        subprocess.run(
            _as_postgres(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        last_error = ""
        for _ in range(attempts):
            port = _free_port()
            options = (
                f"-k {directory} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            started = subprocess.run(
                _as_postgres(
                    [
                        str(bin_dir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-l",
                        str(directory / "log"),
                        "-w",
                        "-t",
                        "60",
                        "-o",
                        options,
                        "start",
                    ]
                ),
                check=False,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if started.returncode == 0:
                cluster = PostgresCluster(directory, port, bin_dir)
                atexit.register(cluster.stop)  # a session interrupted past its fixture's `finally`
                return cluster
            log = directory / "log"
            last_error = started.stderr + (log.read_text(errors="replace")[-2000:] if log.exists() else "")
        raise RuntimeError(f"pg_ctl start failed: {last_error}")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
