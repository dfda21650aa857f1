"""Batch scoring of chamber files with a registered model, by the API's own path: each batch is read as the
API reads a CSV body, validated by the served model's record schema (`service.validation.validate`) and
scored by `service.scoring.score_batch` (the model's `score`), so that a file scored here and the same
records sent to the API get the same scores and the same errors.

Files are read in batches (a Parquet file by its row groups, a CSV by blocks of whole records, an `.xlsx`
sheet at once, as its size is bounded) and the results written as they come (Parquet or CSV by the output's
suffix), so memory stays bounded whatever the file's size. Invalid rows go to `<out>.quarantine.csv`
(source, line, field, reason: never the value), the valid ones are scored.

The model is loaded as the service loads it (`service.model_registry`): its artifacts are checked against
the digest recorded at registration before anything is unpickled.

Each scored row gets a `prediction_id`, kept with what was scored in the service's monitoring store
(`service.monitoring.MonitoringStore`, free of personal data) when the job is given one: outcomes sent
later (`POST /v1/outcomes`, `cma-predict outcomes`) are joined to batch scores as to the API's.
"""

from __future__ import annotations

import csv
import glob
import gzip
import logging
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from catalog.tables import XLSX_MAX_ROWS, is_xlsx, normalize_values
from models.interface import ScoringModel
from pipelines.importer import QUARANTINE_COLUMNS
from service import messages
from service.csv_io import CsvRejected, csv_records
from service.model_registry import (
    CHANGED,
    DIGEST_TAG,
    NO_DIGEST,
    LoadedModel,
    ModelRefused,
    ModelRegistry,
    artifact_digest,
    download_model,
    load_verified,
    reference_profile_of,
)
from service.model_schemas import SchemaSet
from service.monitoring import CHAMPION, MonitoringStore, band_field, new_prediction_ids
from service.schemas import CsvRows, RecordError
from service.scoring import score_batch
from service.validation import ValidBatch, validate

logger = logging.getLogger(__name__)

BATCH_ROWS = 100_000  # rows read, validated and scored at a time (memory grows with it, not the file)
INPUT_SUFFIXES = (".parquet", ".csv", ".gz", ".txt", ".xlsx")
T = TypeVar("T")
LINE_COLUMN = "line"  # the key column of a model without an identifier: the row's line in its file
OUTPUT_KINDS = {"float": pa.float64(), "text": pa.string(), "texts": pa.list_(pa.string())}
"""Arrow type of each kind of model output (`models.interface.OutputField.kind`)."""


class BatchInputError(ValueError):
    """An input that cannot be scored at all (not found, unreadable, a required column missing); the
    message names the file and says why, without any of its values."""


# --------------------------------------------------------------------------------------------------------
# The model


def load_model(name: str, alias: str | None = "champion", version: int | None = None) -> LoadedModel:
    """The registered model `name` by alias (the service's own `ModelRegistry.load`) or by version number
    (the same steps: digest checked on a private copy before anything is unpickled)."""
    if version is None:
        return ModelRegistry(alias=alias or "champion", discover=False).load(name)
    from mlflow import MlflowClient

    client = MlflowClient()
    found = client.get_model_version(name, str(version))
    expected = (found.tags or {}).get(DIGEST_TAG)
    if not expected:
        raise ModelRefused(NO_DIGEST.format(version=version))
    with tempfile.TemporaryDirectory(prefix="cma-model-") as tmp:
        local = download_model(f"models:/{name}/{version}", Path(tmp))
        if artifact_digest(local) != expected:
            raise ModelRefused(CHANGED.format(version=version))
        python_model = load_verified(local)
        model = getattr(python_model, "model", None)
    if not isinstance(model, ScoringModel):
        raise TypeError(f"{name} v{version} does not implement the scoring face (retrain it)")
    return LoadedModel(
        name=name,
        version=str(version),
        model=model,
        metrics={},
        card=found.description or "",
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        schemas=SchemaSet.of(model, name),
        profile=reference_profile_of(python_model, name),
    )


def key_columns(loaded: LoadedModel) -> list[str]:
    """The columns that identify an output row: the contract's identifier, else the row's line."""
    id_field = loaded.schemas.contract.id_field
    return [id_field] if id_field else [LINE_COLUMN]


# --------------------------------------------------------------------------------------------------------
# Reading


def input_files(inputs: list[str]) -> list[Path]:
    """The files named by `inputs`: files, glob patterns, and folders of part files (their data files in
    name order, `_SUCCESS` and hidden files left out); `BatchInputError` when one names nothing."""
    files: list[Path] = []
    for given in inputs:
        matches = sorted(glob.glob(given)) if glob.has_magic(given) else [given]
        if not matches:
            raise BatchInputError(f"{given}: aucun fichier ne correspond")
        for match in map(Path, matches):
            if match.is_dir():
                parts = sorted(
                    p
                    for p in match.rglob("*")
                    if p.is_file()
                    and not p.name.startswith((".", "_"))
                    and p.suffix.lower() in INPUT_SUFFIXES
                )
                if not parts:
                    raise BatchInputError(f"{match}: dossier sans fichier de données")
                files += parts
            elif match.is_file():
                files.append(match)
            else:
                raise BatchInputError(f"{match}: fichier introuvable")
    return list(dict.fromkeys(files))


@dataclass
class TextBatch:
    """Rows of one file read as the API reads a CSV body (`CsvRows`: texts, values by the fields' kinds,
    positions among the file's data rows, unreadable rows as errors), and the line of position 0."""

    rows: CsvRows
    first_line: int


def _is_parquet(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(4) == b"PAR1"


def _text_column(values: pa.Array) -> tuple[pa.Array, bool]:
    """A typed Parquet column as a CSV export would hold it (`catalog.tables.as_text`): dates YYYY-MM-DD,
    numbers as text, NaN and null no value; and whether it was text already (then still to be read by the
    reading rule: French dates, decimal commas, stray spaces)."""
    arr = values
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return arr.cast(pa.string()), True
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is not None:
            return pc.strftime(arr, format="%Y-%m-%d"), False
        arr = pc.cast(arr, pa.date32(), safe=False)  # the day, as `strftime("%Y-%m-%d")`, faster
    elif pa.types.is_floating(arr.type):
        arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, arr.type), arr)
    elif pa.types.is_boolean(arr.type):
        arr = arr.cast(pa.int8())
    return arr.cast(pa.string()), False


def _parquet_batches(path: Path, loaded: LoadedModel, batch_rows: int) -> Iterator[TextBatch]:
    kinds = {f.name: f.kind for f in loaded.schemas.contract.fields}
    source = pq.ParquetFile(path)
    names = [name.strip() for name in source.schema_arrow.names]
    _check_columns(path, names, loaded)
    wanted = [raw for raw, name in zip(source.schema_arrow.names, names, strict=True) if name in kinds]
    offset = 0
    for batch in source.iter_batches(batch_size=batch_rows, columns=wanted):
        columns: dict[str, pa.Array] = {}
        texts: dict[str, pa.Array] = {}
        for raw in batch.schema.names:
            values, text = _text_column(batch[raw])
            (texts if text else columns)[raw.strip()] = values
        if texts:
            read = normalize_values(pa.table(texts), {name: kinds[name] for name in texts})
            columns.update(zip(read.column_names, read.columns, strict=True))
        table = pa.table({name: columns[name] for name in kinds if name in columns})
        n = batch.num_rows
        yield TextBatch(CsvRows(table, list(range(offset, offset + n))), first_line=1)
        offset += n


def _open_text(path: Path) -> IO[bytes]:
    with path.open("rb") as stream:
        gzipped = stream.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _record_blocks(stream: IO[bytes], batch_rows: int) -> Iterator[tuple[bytes, list[bytes]]]:
    """The header line and blocks of about `batch_rows` whole records (a quoted value may hold a line
    break: a block never ends inside quotes)."""
    header = stream.readline()
    block: list[bytes] = []
    records = 0
    quoted = False
    for line in stream:
        block.append(line)
        if line.count(b'"') % 2:
            quoted = not quoted
        if not quoted:
            records += 1
            if records >= batch_rows:
                yield header, block
                block, records = [], 0
    if block or not records:
        yield header, block


def _csv_batches(path: Path, loaded: LoadedModel, batch_rows: int) -> Iterator[TextBatch]:
    """A CSV (or gzip CSV) by blocks of records, each read by the API's reader (`csv_records`); an
    `.xlsx` workbook (told by its bytes) at once, then sliced."""
    with _open_text(path) as stream:
        if is_xlsx(stream.read(4)):
            stream.seek(0)
            rows = _read_block(path, stream.read(), loaded)
            _check_columns(path, rows.table.column_names, loaded)
            yield from _sliced(rows, batch_rows)
            return
        stream.seek(0)
        offset = 0
        checked = False
        for header, block in _record_blocks(stream, batch_rows):
            if not block and checked:
                continue
            if not checked:
                _check_columns(path, _header_names(header), loaded)
                checked = True
            rows = _read_block(path, header + b"".join(block), loaded, allow_empty=True)
            if not len(rows):
                continue
            yield TextBatch(_shifted(rows, offset), first_line=2)
            offset += len(rows)


def _header_names(header: bytes) -> list[str]:
    from catalog.tables import separator_of

    text = header.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace").rstrip("\r\n")
    names = next(csv.reader([text], delimiter=separator_of(text)), [])
    return [name.strip().lstrip("\ufeff").strip() for name in names]


def _read_block(path: Path, raw: bytes, loaded: LoadedModel, allow_empty: bool = False) -> CsvRows:
    """One block of a file read as the API reads a CSV or `.xlsx` body; a block that cannot be read at
    all stops the job with the file named."""
    try:
        return csv_records(raw, loaded, XLSX_MAX_ROWS * 4)
    except CsvRejected as err:
        reasons = [d["reason"] for d in err.details]
        if allow_empty and reasons == [messages.CSV_NO_ROWS]:
            return CsvRows(pa.table({}), [])
        raise BatchInputError(f"{path}: {'; '.join(reasons) or err.detail}") from err


def _shifted(rows: CsvRows, offset: int) -> CsvRows:
    if not offset:
        return rows
    errors = [RecordError(index=e.index + offset, field=e.field, reason=e.reason) for e in rows.errors]
    return CsvRows(rows.table, [p + offset for p in rows.positions], errors)


def _sliced(rows: CsvRows, batch_rows: int) -> Iterator[TextBatch]:
    """A workbook's rows by batches (its unreadable rows' errors with the first)."""
    errors = rows.errors
    for start in range(0, max(rows.table.num_rows, 1), batch_rows):
        positions = rows.positions[start : start + batch_rows]
        if positions or errors:
            yield TextBatch(CsvRows(rows.table.slice(start, batch_rows), positions, errors), first_line=2)
        errors = []


def _check_columns(path: Path, names: list[str], loaded: LoadedModel) -> None:
    """A required field without its column stops the job with the file and the column named."""
    missing = [f.name for f in loaded.schemas.contract.fields if f.required and f.name not in names]
    if missing:
        raise BatchInputError(f"{path}: colonne(s) manquante(s) : {', '.join(missing)}")


def text_batches(path: Path, loaded: LoadedModel, batch_rows: int = BATCH_ROWS) -> Iterator[TextBatch]:
    """The rows of one input file (Parquet, CSV, gzip CSV or `.xlsx`, told by their bytes), by batches."""
    if _is_parquet(path):
        return _parquet_batches(path, loaded, batch_rows)
    return _csv_batches(path, loaded, batch_rows)


def input_rows(path: Path) -> int | None:
    """The rows of a Parquet file (from its footer), None for another format (known once read)."""
    return pq.ParquetFile(path).metadata.num_rows if _is_parquet(path) else None


# --------------------------------------------------------------------------------------------------------
# Scoring and writing


@dataclass
class BatchReport:
    """What a batch job did: rows read, scored, quarantined, per file, and where it wrote."""

    model: str
    version: str
    out: Path
    quarantine: Path | None = None
    rows: int = 0
    scored: int = 0
    quarantined: int = 0
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # file -> (rows, quarantined)


def validated(
    loaded: LoadedModel, files: list[Path], batch_rows: int
) -> Iterator[tuple[Path, TextBatch, ValidBatch]]:
    """Each batch of each file with its validation by the API's path (`service.validation.validate`)."""
    for path in files:
        for batch in text_batches(path, loaded, batch_rows):
            yield path, batch, validate(batch.rows, loaded.schemas.record)


_DONE = object()


def _ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, each computed in a worker thread while the caller uses the one before (reading and
    validating a batch while the previous one is scored: Arrow and LightGBM release the GIL)."""
    with ThreadPoolExecutor(1, thread_name_prefix="cma-batch-read") as pool:
        pending = pool.submit(next, items, _DONE)
        while True:
            item = pending.result()
            if item is _DONE:
                return
            pending = pool.submit(next, items, _DONE)
            yield item  # type: ignore[misc]


def score_table(
    loaded: LoadedModel,
    batch: TextBatch,
    valid: ValidBatch,
    reasons: bool,
    keep: MonitoringStore | None = None,
    chamber: str | None = None,
) -> tuple[pa.Table, list[RecordError]]:
    """The valid rows of one batch scored by the API's path (`service.scoring.score_batch`): the output
    table (key columns, prediction id when the scores are kept in `keep`, probability, the model's
    outputs, reasons with `reasons`, model and version) and the errors of the invalid rows, with their
    lines."""
    scored = score_batch(loaded.model, valid, reasons).columns
    n = len(valid)
    contract = loaded.schemas.contract
    columns: dict[str, Any] = {}
    if contract.id_field:
        columns[contract.id_field] = _arrow(scored[contract.id_field], pa.string())
    else:
        columns[LINE_COLUMN] = pa.array(np.asarray(scored["index"], dtype=np.int64) + batch.first_line)
    probabilities = np.asarray(scored["probability"], dtype=np.float64)
    if keep is not None:
        ids = new_prediction_ids(n)
        band = band_field(loaded.model)
        bands = list(scored[band]) if band else None
        keep.record(loaded, valid.as_frame(), probabilities, ids, CHAMPION, "batch", bands, chamber=chamber)
        columns["prediction_id"] = pa.array(ids.tolist(), type=pa.string())
    columns["probability"] = pa.array(probabilities)
    for out in loaded.schemas.outputs:
        columns[out.name] = _arrow(scored[out.name], OUTPUT_KINDS[out.kind])
    if reasons:
        columns["reasons"] = _arrow(scored["reasons"], pa.list_(pa.string()))
    columns["model"] = pa.repeat(pa.scalar(loaded.name), n) if n else pa.array([], pa.string())
    columns["version"] = pa.repeat(pa.scalar(loaded.version), n) if n else pa.array([], pa.string())
    for error in valid.errors:
        error.line = error.index + batch.first_line
    return pa.table(columns), valid.errors


def _arrow(values: Any, kind: pa.DataType) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == kind else values.cast(kind)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return pa.array(values, type=kind)
    return pa.array(list(values), type=kind)


class _Writer:
    """The output file, written batch by batch: Parquet, or CSV (lists joined with ` | `) by suffix."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.csv = path.suffix.lower() == ".csv"
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, table: pa.Table) -> None:
        if self.csv:
            table = pa.table(
                {
                    name: pc.binary_join(col, " | ") if pa.types.is_list(col.type) else col
                    for name, col in zip(table.column_names, table.columns, strict=True)
                }
            )
        if self._writer is None:
            self._writer = (
                pacsv.CSVWriter(self.path, table.schema)
                if self.csv
                else pq.ParquetWriter(self.path, table.schema)
            )
        self._writer.write_table(table)

    def close(self, empty: pa.Schema) -> None:
        if self._writer is None:
            self.write(empty.empty_table())
        if self._writer is not None:
            self._writer.close()


def output_schema(loaded: LoadedModel, reasons: bool, kept: bool = False) -> pa.Schema:
    """The columns of the output (for an input with no valid row)."""
    contract = loaded.schemas.contract
    fields = [(contract.id_field, pa.string()) if contract.id_field else (LINE_COLUMN, pa.int64())]
    if kept:
        fields.append(("prediction_id", pa.string()))
    fields.append(("probability", pa.float64()))
    fields += [(out.name, OUTPUT_KINDS[out.kind]) for out in loaded.schemas.outputs]
    if reasons:
        fields.append(("reasons", pa.list_(pa.string())))
    fields += [("model", pa.string()), ("version", pa.string())]
    return pa.schema(fields)


def quarantine_path(out: Path) -> Path:
    """Where the invalid rows of a job writing `out` are listed."""
    return out.with_name(f"{out.name}.quarantine.csv")


def score_files(
    loaded: LoadedModel,
    files: list[Path],
    out: Path,
    reasons: bool = False,
    batch_rows: int = BATCH_ROWS,
    on_batch: Callable[[int], None] | None = None,
    keep: MonitoringStore | None = None,
    chamber: str | None = None,
) -> BatchReport:
    """Score every file into `out` (Parquet or CSV by suffix), batch by batch, the invalid rows listed in
    `<out>.quarantine.csv` (written only when there are some); `on_batch(rows)` after each batch; the
    scores kept in `keep` (each row's prediction id in the output) when given, for `chamber`."""
    report = BatchReport(loaded.name, loaded.version, out)
    writer = _Writer(out)
    target = quarantine_path(out)
    target.unlink(missing_ok=True)
    bad_file: IO[str] | None = None
    bad: Any = None
    counts = {str(path): [0, 0] for path in files}
    try:
        for path, batch, valid in _ahead(validated(loaded, files, batch_rows)):
            table, errors = score_table(loaded, batch, valid, reasons, keep, chamber)
            writer.write(table)
            n = len(batch.rows)
            bad_rows = len({e.index for e in errors})
            counts[str(path)][0] += n
            counts[str(path)][1] += bad_rows
            report.rows += n
            report.scored += table.num_rows
            report.quarantined += bad_rows
            if errors:
                if bad is None:
                    bad_file = target.open("w", newline="", encoding="utf-8")
                    bad = csv.writer(bad_file)
                    bad.writerow(QUARANTINE_COLUMNS)
                bad.writerows((path.name, e.line, e.field, e.reason) for e in errors)
            if on_batch is not None:
                on_batch(n)
    finally:
        report.files = {path: (rows, bad_rows) for path, (rows, bad_rows) in counts.items()}
        writer.close(output_schema(loaded, reasons, kept=keep is not None))
        if bad_file is not None:
            bad_file.close()
            report.quarantine = target
    return report
