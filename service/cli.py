"""The service's commands, mounted into `cma-predict`: API key administration and `serve`."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from service.keys import SERVE_ORIGIN, KeyStore, expired
from service.settings import ServiceSettings

console = Console()
keys_app = typer.Typer(help="API keys of the scoring service (stored hashed; a key is shown once).")
# The local admin key of `serve --admin-key`: short-lived, revoked when the next is minted and at shutdown.
LOCAL_ADMIN_HOURS = 12


def _key_store() -> KeyStore:
    return KeyStore(ServiceSettings().keys_target())


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    return typer.Exit(code=2)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="agent (scores), advisor (diagnostics) or admin")],
    chamber: Annotated[str, typer.Option(help='Chamber the key belongs to, e.g. "CMA PACA"')],
    expires_days: Annotated[
        int | None, typer.Option(min=1, help="Days the key stays valid (default: until revoked)")
    ] = None,
) -> None:
    """Create a key and print it once."""
    expires_in = timedelta(days=expires_days) if expires_days is not None else None
    try:
        key, record = _key_store().create(role, chamber, expires_in)
    except ValueError as err:
        raise _fail(str(err)) from err
    until = f", expires {record.expires_at}" if record.expires_at else ""
    console.print(
        f"key id {record.key_id} ({record.role}, {record.chamber}{until}); keep this key, it is shown once:"
    )
    console.print(key, highlight=False, markup=False, soft_wrap=True)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids, roles, chambers, dates and expiry; never the keys)."""
    table = Table(title="API keys")
    for col in ("id", "role", "chamber", "created", "expires", "revoked"):
        table.add_column(col)
    for record in _key_store().list():
        expiry = record.expires_at or "never"
        if record.expires_at and expired(record):
            expiry += " (expired)"
        table.add_row(
            record.key_id, record.role, record.chamber, record.created_at, expiry, record.revoked_at or ""
        )
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
        bool,
        typer.Option(
            "--admin-key",
            help=f"Create and print a local admin key, valid {LOCAL_ADMIN_HOURS} h and revoked at shutdown "
            "(the previous one is revoked)",
        ),
    ] = False,
) -> None:
    """Start the scoring API (every registered model with a champion alias, loaded from the registry)."""
    import uvicorn

    os.environ.setdefault("CMA_PREDICT_HOME", str(Path(os.environ.get("CMA_PREDICT_HOME", "var")).resolve()))
    if os.environ.get("MLFLOW_TRACKING_URI"):  # a tracking server set for the jobs serves the API too
        os.environ.setdefault("CMA_TRACKING_URI", os.environ["MLFLOW_TRACKING_URI"])
    minted = None
    if admin_key:
        store = _key_store()
        revoked = store.revoke_origin(SERVE_ORIGIN)
        key, minted = store.create("admin", "local", timedelta(hours=LOCAL_ADMIN_HOURS), SERVE_ORIGIN)
        console.print(
            f"Local admin key (id {minted.key_id}, expires {minted.expires_at}"
            + (f"; {revoked} previous local admin key(s) revoked" if revoked else "")
            + f"), shown once: {key}",
            highlight=False,
            markup=False,
        )
    console.print(f"API on http://{host}:{port} — documentation: http://{host}:{port}/docs")
    console.print(
        f"Diagnostic page for advisors: http://{host}:{port}/diagnostic (sign in with an advisor key)",
        highlight=False,
    )
    try:
        uvicorn.run(
            "service.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning"
        )
    finally:
        if minted is not None:
            _key_store().revoke(minted.key_id)
            console.print(f"Local admin key {minted.key_id} revoked", highlight=False)
