"""The service's commands, mounted into `cma-predict`: API key administration and `serve`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from service.keys import KeyStore
from service.settings import ServiceSettings

console = Console()
keys_app = typer.Typer(help="API keys of the scoring service (stored hashed; a key is shown once).")


def _key_store() -> KeyStore:
    return KeyStore(ServiceSettings().keys_path())


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    return typer.Exit(code=2)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="agent (scores), advisor (diagnostics) or admin")],
    chamber: Annotated[str, typer.Option(help='Chamber the key belongs to, e.g. "CMA PACA"')],
) -> None:
    """Create a key and print it once."""
    try:
        key, record = _key_store().create(role, chamber)
    except ValueError as err:
        raise _fail(str(err)) from err
    console.print(
        f"key id {record.key_id} ({record.role}, {record.chamber}); keep this key, it is shown once:"
    )
    console.print(key, highlight=False, markup=False, soft_wrap=True)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids, roles, chambers, dates; never the keys)."""
    table = Table(title="API keys")
    for col in ("id", "role", "chamber", "created", "revoked"):
        table.add_column(col)
    for record in _key_store().list():
        table.add_row(record.key_id, record.role, record.chamber, record.created_at, record.revoked_at or "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="Key id shown by `keys list`")]) -> None:
    """Revoke a key: it stops working at once."""
    if not _key_store().revoke(key_id):
        raise _fail(f"no active key with id {key_id}")
    console.print(f"key {key_id} revoked")


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    admin_key: Annotated[
        bool, typer.Option("--admin-key", help="Create and print a local admin key")
    ] = False,
) -> None:
    """Start the scoring API (every registered model with a champion alias, loaded from the registry)."""
    import uvicorn

    os.environ.setdefault("CMA_PREDICT_HOME", str(Path(os.environ.get("CMA_PREDICT_HOME", "var")).resolve()))
    if os.environ.get("MLFLOW_TRACKING_URI"):  # a tracking server set for the jobs serves the API too
        os.environ.setdefault("CMA_TRACKING_URI", os.environ["MLFLOW_TRACKING_URI"])
    if admin_key:
        key, record = _key_store().create("admin", "local")
        console.print(
            f"Local admin key (id {record.key_id}), shown once: {key}", highlight=False, markup=False
        )
    console.print(f"API on http://{host}:{port} — documentation: http://{host}:{port}/docs")
    console.print(
        f"Diagnostic page for advisors: http://{host}:{port}/diagnostic (sign in with an advisor key)",
        highlight=False,
    )
    uvicorn.run(
        "service.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning"
    )
