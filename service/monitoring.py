"""What the service keeps of every score, the outcomes that come back, the drift of live inputs and the
shadow scores of challengers (issue 16: closing the loop).

Every scored record gets a prediction id, kept in the monitoring store (monitoring.db, or the PostgreSQL
database of `CMA_DATABASE_URL`) in a form free of personal data: the model and version, the pseudonymous key
of its identifier (a keyed BLAKE2b, a MAC: nobody without the secret can go back to the SIRET or the contract,
nor test a guess), its scoring date, its probability, the bins of its inputs in the model's reference profile
(the indices of the bins, never a submitted value) and its groups (département, NAF section, the model card's
groups). Outcomes sent later (`POST /v1/outcomes`, `cma-predict outcomes`) are joined to it by the prediction
id, or by the record's identifier (pseudonymised the same way).

The record keys use `CMA_PSEUDONYM_KEY` when set (the secret of the imported datasets, so keys join across
them); otherwise a secret made once for the deployment and kept in the monitoring database.

Drift: the latest `window` records of the serving version are binned against the profile logged with it at
registration; a feature (or the scores) past its PSI threshold is an alert, shown degraded on `/ready`, as
gauges on `/metrics` and in the monitoring report. The state is computed from the database (so every
worker agrees), at most once every `cache_seconds`.

Entries are written by a background writer while the store is healthy (the answer does not wait for
them), before the answer while it fails (then a 503): see `Monitor.keep`.

Shadow challengers: a model version carrying the alias `challenger` scores the same batch after the
champion has answered, in one background thread; its scores are kept under the same prediction ids (role
`challenger`) and never reach the answer. A full queue skips the shadow score of a batch (counted).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from models.monitoring import DriftThresholds, ReferenceProfile, drift_alerts, drift_table, record_groups
from service.stores import (
    MONITORING,
    StoreHealth,
    StoreTarget,
    StoreUnavailable,
    failure_kind,
    migrate,
    open_engine,
)

if TYPE_CHECKING:
    from service.metrics import ServiceMetrics
    from service.model_registry import LoadedModel
    from service.validation import ValidBatch

logger = logging.getLogger(__name__)

CHAMPION = "champion"
FLUSH_SECONDS = 2.0  # the longest /ready, /metrics or an outcome waits for this process's pending entries
CHALLENGER = "challenger"
PSEUDONYM_KEY_ENV = "CMA_PSEUDONYM_KEY"
MIN_SECRET_BYTES = 16
# Actions an agent may report with an outcome: a closed list (a free text could hold anyone's name).
ACTIONS = ("entreprise_contactee", "pack_ppr", "entretien", "aucune", "autre")
OUTCOME_COLUMNS = (
    "model", "prediction_id", "claimed_id", "record_key", "outcome", "outcome_date", "action",
    "received_at", "source", "key_id", "chamber",
)  # fmt: skip
# The outcomes of each champion prediction: joined when they came, or joined now by the id they gave (an
# outcome from a chamber joins that chamber's predictions only; one from the command line, any).
JOINED_OUTCOMES = (
    "SELECT o.prediction_id AS pid, o.seq, o.outcome, o.outcome_date, o.action FROM outcomes o "
    "WHERE o.prediction_id IS NOT NULL UNION ALL "
    "SELECT o.claimed_id AS pid, o.seq, o.outcome, o.outcome_date, o.action FROM outcomes o "
    "JOIN predictions q ON q.prediction_id = o.claimed_id AND q.role = 'champion' AND q.model = o.model "
    "WHERE o.prediction_id IS NULL AND o.claimed_id IS NOT NULL "
    "AND (o.chamber IS NULL OR o.chamber = q.chamber)"
)


PREDICTION_ID_PATTERN = r"^p-[a-z2-7]{16}-[a-z]{4,6}$"
ROW_LETTERS = 4  # 26**4 = 456,976 rows per batch before a fifth letter is needed


def new_prediction_ids(n: int) -> np.ndarray:
    """`n` fresh prediction ids: one random batch part (80 bits, base32) and the row's number in letters,
    e.g. `p-mfrggzdfmztwq2lk-aabc`; unique without a round trip to the database. No 0, 1, 8 or 9 in them, so
    that an id never looks like a submitted number (a SIRET, a code) in an answer."""
    batch = base64.b32encode(secrets.token_bytes(10)).decode().lower()
    width = max(ROW_LETTERS, len(_letters(max(n - 1, 0))))
    number = np.arange(n, dtype=np.int64)
    digits = [(number // 26**k) % 26 for k in reversed(range(width))]
    codes = np.stack(digits, axis=1).astype(np.uint32) + ord("a") if n else np.zeros((0, width), np.uint32)
    letters = np.ascontiguousarray(codes).view(f"<U{width}").reshape(-1)
    prefix = f"p-{batch}-"
    return np.array([prefix + row for row in letters.tolist()], dtype=object)


def _letters(number: int) -> str:
    """A row number in base 26 letters (0 -> a, 25 -> z, 26 -> ba)."""
    out = ""
    while True:
        number, digit = divmod(number, 26)
        out = chr(ord("a") + digit) + out
        if not number:
            return out


def _now() -> datetime:
    return datetime.now(UTC)


def _iso_date(value: Any) -> str | None:
    """A scoring date as `YYYY-MM-DD` (a date, a timestamp or an ISO text), None when missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, datetime | date | pd.Timestamp):
        return None if pd.isna(value) else value.strftime("%Y-%m-%d")
    text_value = str(value).strip()
    return text_value[:10] if len(text_value) >= 10 else None


def band_field(model: Any) -> str | None:
    """The model's band output (its first text output with a closed list of values), if it has one."""
    for output in model.output_fields:
        if output.kind == "text" and output.allowed:
            return str(output.name)
    return None


@dataclass(frozen=True)
class OutcomeReport:
    """What became of the outcomes of one submission: how many were joined to a prediction, how many were
    kept without one (their errors say which, by index and reason, never by value)."""

    received: int
    matched: int
    unmatched: int
    errors: list[dict[str, Any]]


@dataclass
class DriftState:
    """The drift of one served model version: its table (one row per input and the scores), the alerts
    (French reasons) and how many live records it was judged on."""

    model: str
    version: str
    rows: int
    table: pd.DataFrame
    alerts: list[str]
    computed_at: float = field(default_factory=time.monotonic)
    note: str = ""


class MonitoringStore:
    """The predictions and outcomes tables, on a SQLite file, a database URL or an engine.

    `busy_seconds`: the longest wait for another process's lock (then `StoreUnavailable`, a 503 of the error
    contract: a score whose prediction could not be kept is not answered). `migrated`: the caller already
    brought the database to the latest revision.
    """

    def __init__(
        self,
        target: StoreTarget,
        busy_seconds: float = 0.5,
        health: StoreHealth | None = None,
        migrated: bool = False,
    ) -> None:
        if not migrated:
            migrate(target, MONITORING)
        self.engine: Engine = open_engine(target, busy_seconds, wal=True)
        self.health = health
        # The MAC key: 32 bytes derived from the secret (BLAKE2b takes a key of at most 64 bytes).
        self._secret = hashlib.sha256(b"cma-monitoring|" + self._key_secret()).digest()
        if health is not None:
            health.register(MONITORING, self.probe)

    def _key_secret(self) -> bytes:
        """`CMA_PSEUDONYM_KEY` (at least 16 bytes: a shorter one is refused, not ignored), else the secret
        made for the deployment and kept in the monitoring database. Set the variable in production: a
        reader of the database who holds its secret too can recompute the key of a public SIRET."""
        given = os.environ.get(PSEUDONYM_KEY_ENV, "")
        if given and len(given.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"{PSEUDONYM_KEY_ENV} is shorter than {MIN_SECRET_BYTES} bytes: the record keys of the "
                "monitoring store need a longer secret (e.g. `openssl rand -hex 32`)"
            )
        if given:
            return given.encode()
        with self.engine.connect() as con:
            row = con.execute(text("SELECT secret FROM monitoring_secret WHERE id = 1")).fetchone()
        if row is None:  # made by the migration: a database without it was not migrated
            raise RuntimeError("monitoring database without its secret: run the migrations")
        return str(row[0]).encode()

    def probe(self) -> None:
        """Raise when the store cannot be read (for `/ready` to see it recover)."""
        with self.engine.connect() as con:
            con.execute(text("SELECT 1 FROM predictions LIMIT 1"))

    def _failed(self, err: SQLAlchemyError) -> StoreUnavailable:
        kind = failure_kind(err)
        logger.error("monitoring store failed (%s): %s", kind, type(err).__name__)
        if self.health is not None:
            self.health.failed(MONITORING, kind, str(err))
        return StoreUnavailable(MONITORING, kind)

    def record_keys(self, model: str, identifiers: Sequence[Any]) -> list[str | None]:
        """The pseudonymous key of each identifier as scored (trimmed text; None when missing): a keyed
        BLAKE2b under the deployment's secret, per model."""
        person = hashlib.sha256(f"record|{model}".encode()).digest()[:16]
        out: list[str | None] = []
        for value in identifiers:
            text_value = "" if value is None else str(value).strip()
            out.append(
                hashlib.blake2b(
                    text_value.encode(), key=self._secret, person=person, digest_size=12
                ).hexdigest()
                if text_value
                else None
            )
        return out

    def record(
        self,
        loaded: LoadedModel,
        frame: pd.DataFrame,
        probabilities: np.ndarray,
        prediction_ids: Sequence[str] | np.ndarray,
        role: str = CHAMPION,
        source: str = "api",
        bands: Sequence[Any] | None = None,
        model_name: str | None = None,
        chamber: str | None = None,
    ) -> None:
        """Keep the scores of `frame` (the valid records, in the model's input form) under their prediction
        ids; `model_name`: the served name they count under (the champion's, for a challenger); `chamber`:
        the chamber of the key that scored them (their outcomes are joined within it)."""
        model = loaded.model
        name = model_name or loaded.name
        contract = model.input_contract
        n = len(frame)
        if n == 0:
            return
        now = _now()
        scored_at = now.isoformat(timespec="seconds")
        as_of_field = getattr(contract, "as_of", None)
        as_of = _iso_dates(frame[as_of_field]) if as_of_field and as_of_field in frame else [None] * n
        keys = (
            self.record_keys(name, frame[contract.id_field].tolist())
            if contract.id_field and contract.id_field in frame
            else [None] * n
        )
        profile = loaded.profile
        bins: list[str | None] = [None] * n
        score_bins: list[int | None] = [None] * n
        if profile is not None:
            bins = _joined_bins(profile.bin_rows(frame))
            score_bins = profile.bin_scores(probabilities).tolist()
        groups = _json_lines(record_groups(model, frame), n)
        month = now.strftime("%Y-%m")
        periods = [(day or "")[:7] or month for day in as_of]
        band_texts = [None] * n if bands is None else [_group_text(b) for b in bands]
        rows = list(
            zip(
                (str(i) for i in prediction_ids),
                [role] * n,
                [name] * n,
                [loaded.version] * n,
                [scored_at] * n,
                as_of,
                periods,
                keys,
                np.asarray(probabilities, dtype=np.float64).tolist(),
                band_texts,
                score_bins,
                bins,
                groups,
                [source] * n,
                [chamber] * n,
                strict=True,
            )
        )
        self._write_rows("predictions", PREDICTION_COLUMNS, rows)

    def _write_rows(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """Insert rows (tuples in `columns` order) through the driver's own executemany: a batch of
        10,000 scores without SQLAlchemy building a parameter dict per row."""
        if not rows:
            return
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
        try:
            with self.engine.begin() as con:
                con.exec_driver_sql(statement, rows)
        except SQLAlchemyError as err:
            raise self._failed(err) from err
        if self.health is not None:
            self.health.ok(MONITORING)

    def add_outcomes(
        self,
        model: str,
        outcomes: Sequence[Mapping[str, Any]],
        source: str,
        key_id: str | None = None,
        chamber: str | None = None,
    ) -> OutcomeReport:
        """Join each outcome (`prediction_id`, or `record_id`: the identifier as scored; `outcome` 0/1;
        `outcome_date`; `action`) to the champion prediction it follows (by id; by record key, the latest
        prediction scored on or before the outcome date), and keep it. With `chamber` (an agent's key), only
        that chamber's predictions are joined: another chamber's are as unknown as ones never made. An
        outcome no prediction is found for is kept too, reported by index, and joined later by the id it
        gave if that prediction is kept meanwhile."""
        received_at = _now().isoformat(timespec="seconds")
        keys = self.record_keys(model, [o.get("record_id") for o in outcomes])
        ids = [o.get("prediction_id") for o in outcomes]
        known = self._known(model, [i for i in ids if i], [k for k in keys if k], chamber)
        rows, errors = [], []
        for index, (outcome, given_id, key) in enumerate(zip(outcomes, ids, keys, strict=True)):
            day = _iso_date(outcome.get("outcome_date"))
            found: str | None = None
            if given_id:
                found = given_id if given_id in known["ids"] else None
            elif key:
                found = _latest_before(known["keys"].get(key, []), day)
            if found is None:
                errors.append(
                    {
                        "index": index,
                        "field": "prediction_id" if given_id else "record_id",
                        "reason": "aucune prédiction de ce modèle ne correspond : résultat gardé, non relié",
                    }
                )
            rows.append(
                {
                    "model": model,
                    "prediction_id": found,
                    "claimed_id": given_id if found is None else None,
                    "record_key": key,
                    "outcome": int(bool(outcome["outcome"])),
                    "outcome_date": day,
                    "action": outcome.get("action"),
                    "received_at": received_at,
                    "source": source,
                    "key_id": key_id,
                    "chamber": chamber,
                }
            )
        self._write_rows("outcomes", OUTCOME_COLUMNS, [tuple(r[c] for c in OUTCOME_COLUMNS) for r in rows])
        return OutcomeReport(len(rows), len(rows) - len(errors), len(errors), errors)

    def _known(
        self, model: str, ids: list[str], keys: list[str], chamber: str | None = None
    ) -> dict[str, Any]:
        """Which of `ids` are champion predictions of `model` (of `chamber`'s, when given), and the (scored
        date, order, id) of every such prediction of each record key."""
        scope = "" if chamber is None else " AND chamber = :c"
        given = {} if chamber is None else {"c": chamber}
        found_ids: set[str] = set()
        by_key: dict[str, list[tuple[str, int, str]]] = {}
        try:
            with self.engine.connect() as con:
                for chunk in _chunks(ids):
                    found_ids.update(
                        r[0]
                        for r in con.execute(
                            text(
                                "SELECT prediction_id FROM predictions WHERE model = :m "
                                f"AND role = 'champion'{scope} AND prediction_id IN ({_placeholders(chunk)})"
                            ),
                            {"m": model, **given, **_params(chunk)},
                        )
                    )
                for chunk in _chunks(list(dict.fromkeys(keys))):
                    for key, day, seq, pid in con.execute(
                        text(
                            "SELECT record_key, coalesce(as_of, substr(scored_at, 1, 10)), seq, "
                            "prediction_id FROM predictions WHERE model = :m AND role = 'champion'"
                            f"{scope} AND record_key IN ({_placeholders(chunk)})"
                        ),
                        {"m": model, **given, **_params(chunk)},
                    ):
                        by_key.setdefault(key, []).append((day, seq, pid))
        except SQLAlchemyError as err:
            raise self._failed(err) from err
        return {"ids": found_ids, "keys": by_key}

    def predictions(
        self,
        model: str,
        since: str | None = None,
        until: str | None = None,
        role: str | None = None,
        chamber: str | None = None,
    ) -> pd.DataFrame:
        """The kept predictions of `model` (periods `since`..`until`, `YYYY-MM`, inclusive; of one chamber's
        keys when `chamber` is given), each with its latest outcome (NaN until one comes back) and the
        action reported with it; the groups as columns."""
        clauses, params = ["p.model = :m"], {"m": model}
        filters = (
            ("chamber", "=", chamber),
            ("period", ">=", since),
            ("period", "<=", until),
            ("role", "=", role),
        )
        for position, (column, operator, value) in enumerate(filters):
            if value:
                clauses.append(f"p.{column} {operator} :f{position}")
                params[f"f{position}"] = value
        query = text(
            "SELECT p.prediction_id, p.role, p.model, p.version, p.scored_at, p.as_of, p.period, "
            "p.probability, p.band, p.score_bin, p.bins, p.groups, p.source, o.outcome, o.outcome_date, "
            "o.action FROM predictions p LEFT JOIN (SELECT j.*, row_number() OVER (PARTITION BY j.pid "
            f"ORDER BY j.seq DESC) AS latest FROM ({JOINED_OUTCOMES}) j) o ON o.pid = p.prediction_id "
            f"AND o.latest = 1 WHERE {' AND '.join(clauses)} ORDER BY p.seq"
        )
        try:
            with self.engine.connect() as con:
                frame = pd.DataFrame(con.execute(query, params).mappings().all())
        except SQLAlchemyError as err:
            raise self._failed(err) from err
        columns = [
            "prediction_id", "role", "model", "version", "scored_at", "as_of", "period", "probability",
            "band", "score_bin", "bins", "groups", "source", "outcome", "outcome_date", "action",
        ]  # fmt: skip
        if frame.empty:
            return pd.DataFrame(columns=columns)
        frame["outcome"] = pd.to_numeric(frame["outcome"], errors="coerce")
        groups = pd.DataFrame([orjson.loads(g) if g else {} for g in frame["groups"]], index=frame.index)
        return pd.concat([frame, groups.drop(columns=[c for c in groups if c in frame])], axis=1)

    def unmatched_outcomes(self, model: str) -> int:
        """Outcomes of `model` kept without a prediction they could be joined to."""
        try:
            with self.engine.connect() as con:
                row = con.execute(
                    text(
                        "SELECT count(*) FROM outcomes o WHERE o.model = :m AND o.prediction_id IS NULL AND "
                        f"o.seq NOT IN (SELECT j.seq FROM ({JOINED_OUTCOMES}) j)"
                    ),
                    {"m": model},
                ).fetchone()
        except SQLAlchemyError as err:
            raise self._failed(err) from err
        return int(row[0]) if row else 0

    def latest_bins(self, model: str, version: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """The input bins (rows x features) and score bins of the latest `limit` champion records of one
        model version."""
        query = text(
            "SELECT bins, score_bin FROM predictions WHERE model = :m AND version = :v AND role = 'champion' "
            "AND bins IS NOT NULL ORDER BY seq DESC LIMIT :n"
        )
        try:
            with self.engine.connect() as con:
                rows = con.execute(query, {"m": model, "v": version, "n": limit}).fetchall()
        except SQLAlchemyError as err:
            raise self._failed(err) from err
        if not rows:
            return np.zeros((0, 0), dtype=np.int64), np.zeros(0, dtype=np.int64)
        features = np.array([[int(b) for b in r[0].split(",")] if r[0] else [] for r in rows], dtype=np.int64)
        return features, np.array([r[1] for r in rows], dtype=np.int64)

    def close(self) -> None:
        """Close the store's connections."""
        self.engine.dispose()

    def champion_records(self, model: str) -> pd.DataFrame:
        """Every champion prediction of `model` with a record key: `prediction_id`, `record_key`, `day` (its
        as-of date, else its scoring date, ISO) and `has_outcome` (an outcome is already joined to it), for
        outcomes derived from an extract of events (`cma-predict outcomes --events`)."""
        query = text(
            "SELECT p.prediction_id, p.record_key, coalesce(p.as_of, substr(p.scored_at, 1, 10)) AS day, "
            f"EXISTS (SELECT 1 FROM ({JOINED_OUTCOMES}) j WHERE j.pid = p.prediction_id) AS has_outcome "
            "FROM predictions p WHERE p.model = :m AND p.role = 'champion' AND p.record_key IS NOT NULL "
            "ORDER BY p.seq"
        )
        try:
            with self.engine.connect() as con:
                rows = con.execute(query, {"m": model}).fetchall()
        except SQLAlchemyError as err:
            raise self._failed(err) from err
        frame = pd.DataFrame(rows, columns=["prediction_id", "record_key", "day", "has_outcome"])
        return frame.assign(has_outcome=frame["has_outcome"].astype(bool))

    def purge(self, before: str, model: str | None = None) -> tuple[int, int]:
        """Delete the predictions counted in months before `before` (`YYYY-MM`), of `model` or of every model,
        and the outcomes joined to them or, not joined, received before that month: the retention limit
        of the monitoring data (pseudonymous, still personal data under the GDPR). Returns (predictions,
        outcomes) deleted."""
        scope = "" if model is None else " AND model = :m"
        params = {"before": before, "day": f"{before}-01", **({} if model is None else {"m": model})}
        try:
            with self.engine.begin() as con:
                outcomes = con.execute(
                    text(
                        "DELETE FROM outcomes WHERE (coalesce(prediction_id, claimed_id) IN (SELECT "
                        f"prediction_id FROM predictions WHERE period < :before{scope}) OR (prediction_id IS "
                        f"NULL AND received_at < :day)){scope}"
                    ),
                    params,
                ).rowcount
                predictions = con.execute(
                    text(f"DELETE FROM predictions WHERE period < :before{scope}"), params
                ).rowcount
        except SQLAlchemyError as err:
            raise self._failed(err) from err
        return int(predictions), int(outcomes)


PREDICTION_COLUMNS = (
    "prediction_id", "role", "model", "version", "scored_at", "as_of", "period", "record_key",
    "probability", "band", "score_bin", "bins", "groups", "source", "chamber",
)  # fmt: skip


def _iso_dates(values: pd.Series) -> list[str | None]:
    """Scoring dates as `YYYY-MM-DD` texts (None when missing), a whole column at once."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        text = values.dt.strftime("%Y-%m-%d")
        return text.astype(object).where(values.notna(), None).tolist()
    return [_iso_date(v) for v in values]


def _joined_bins(matrix: np.ndarray) -> list[str | None]:
    """Each row of bin indices as one text, `3,0,7,...` (each index written once, then joined)."""
    if matrix.shape[1] == 0 or not len(matrix):
        return [""] * len(matrix)
    written = np.array([str(i) for i in range(int(matrix.max()) + 1)], dtype=object)
    return [",".join(row) for row in written[matrix].tolist()]


def _json_lines(groups: Mapping[str, np.ndarray], n: int) -> list[str]:
    """Each record's groups as one JSON object (pandas writes them all at once, one per line)."""
    if not groups:
        return ["{}"] * n
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in groups.items()})
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_json(orient="records", lines=True, force_ascii=False).splitlines()


def _group_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def _latest_before(found: list[tuple[str, int, str]], day: str | None) -> str | None:
    """The id of the latest prediction (by scoring date, then by the order it was kept) whose scoring date
    is on or before `day` (any when no day), else None."""
    eligible = [(d or "", seq, pid) for d, seq, pid in found if day is None or (d or "") <= day]
    return max(eligible)[2] if eligible else None


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _placeholders(chunk: list[str]) -> str:
    return ", ".join(f":v{i}" for i in range(len(chunk)))


def _params(chunk: list[str]) -> dict[str, str]:
    return {f"v{i}": v for i, v in enumerate(chunk)}


class Monitor:
    """The app's monitoring: keeps every score (`keep`), shadow-scores challengers (`shadow`), judges the
    drift of every served model (`drift`, cached) and feeds the gauges of `/metrics`."""

    def __init__(
        self,
        store: MonitoringStore,
        thresholds: DriftThresholds,
        window: int,
        cache_seconds: float,
        metrics: ServiceMetrics | None = None,
        shadow_queue: int = 8,
        keep_queue: int = 32,
    ) -> None:
        self.store = store
        self.thresholds = thresholds
        self.window = window
        self.cache_seconds = cache_seconds
        self.metrics = metrics
        self.shadow_queue = shadow_queue
        self._drift: dict[tuple[str, str], DriftState] = {}
        self._lock = threading.Lock()
        self._pending: list[Future[None]] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitoring-writer")
        self._slots = threading.BoundedSemaphore(max(1, keep_queue))
        self._writes: list[Future[None]] = []
        self._closed = False

    def keep(
        self,
        loaded: LoadedModel,
        batch: ValidBatch,
        probabilities: np.ndarray,
        bands: Sequence[Any] | None,
        chamber: str | None = None,
    ) -> np.ndarray:
        """Keep the champion's scores of a batch (scored by a key of `chamber`); their prediction ids, in
        the batch's order.

        While the store is healthy, the entry is written by one background writer (binning the inputs and
        writing 10,000 rows costs about as much as scoring them: the answer does not wait for it); at most
        `keep_queue` batches wait, beyond that a request waits for room. While the store is failing, the
        entry is written before the answer, so a request is refused (503) rather than answered with a
        prediction id that would not be kept; a write that fails in the background is logged, counted
        (`cma_monitoring_lost_total`) and marks the store failing on `/ready`."""
        ids = new_prediction_ids(len(batch))
        health = self.store.health
        if self._closed or (health is not None and MONITORING in health.failing()):
            frame = batch.as_frame()
            self.store.record(loaded, frame, probabilities, ids, CHAMPION, "api", bands, chamber=chamber)
            return ids
        self._slots.acquire()
        try:
            future = self._writer.submit(self._write_kept, loaded, batch, probabilities, ids, bands, chamber)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        with self._lock:
            self._writes = [f for f in self._writes if not f.done()] + [future]
        return ids

    def _write_kept(
        self,
        loaded: LoadedModel,
        batch: ValidBatch,
        probabilities: np.ndarray,
        ids: np.ndarray,
        bands: Sequence[Any] | None,
        chamber: str | None,
    ) -> None:
        try:
            frame = batch.as_frame()
            self.store.record(loaded, frame, probabilities, ids, CHAMPION, "api", bands, chamber=chamber)
        except Exception as err:  # recorded in the store's health by `record`; counted here
            logger.error("scores of %s not kept (%d rows): %s", loaded.name, len(ids), type(err).__name__)
            if self.metrics is not None:
                self.metrics.monitoring_lost.labels(loaded.name).inc(len(ids))

    def shadow(
        self,
        name: str,
        challenger: LoadedModel,
        batch: ValidBatch,
        ids: np.ndarray,
        related: Mapping[str, list[dict[str, Any]]] | None,
        chamber: str | None = None,
    ) -> bool:
        """Score `batch` with the challenger in the background, kept under the champion's prediction ids;
        False when the queue is full (the batch is not shadowed, counted)."""
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()]
            if self._closed or len(self._pending) >= self.shadow_queue:
                if self.metrics is not None:
                    self.metrics.shadow_skipped.labels(name).inc()
                return False
            future = self._executor.submit(self._shadow, name, challenger, batch, ids, related, chamber)
            self._pending.append(future)
        return True

    def _shadow(
        self,
        name: str,
        challenger: LoadedModel,
        batch: ValidBatch,
        ids: np.ndarray,
        related: Mapping[str, list[dict[str, Any]]] | None,
        chamber: str | None,
    ) -> None:
        try:
            scored = challenger.model.score(batch.rows(), explain=False, related=related or None)
            probabilities = np.asarray(scored["probability"], dtype=np.float64)
            band = band_field(challenger.model)
            bands = scored[band] if band else None
            frame = batch.as_frame()
            self.store.record(challenger, frame, probabilities, ids, CHALLENGER, "api", bands, name, chamber)
            if self.metrics is not None:
                self.metrics.shadow_rows.labels(name).inc(len(ids))
        except Exception as err:  # a challenger never affects the service: logged and counted
            logger.warning("shadow score of %s failed: %s", name, type(err).__name__)
            if self.metrics is not None:
                self.metrics.shadow_errors.labels(name).inc()

    def flush(self, timeout: float = 30.0, shadows: bool = True) -> bool:
        """Wait, at most `timeout` seconds in all, for the entries (and, with `shadows`, the shadow scores)
        queued so far by this process: before outcomes are joined, before drift is judged, in tests. Their
        own failures are counted, never raised here; False when the deadline came first."""
        with self._lock:
            pending = [*self._writes, *(self._pending if shadows else [])]
        return not wait(pending, timeout=timeout).not_done

    def drift(self, loaded: LoadedModel) -> DriftState | None:
        """The drift of the serving version of a model (None when it has no reference profile), recomputed
        from the store when older than `cache_seconds`; updates the gauges."""
        profile: ReferenceProfile | None = loaded.profile
        if profile is None:
            return None
        key = (loaded.name, loaded.version)
        cached = self._drift.get(key)
        if cached is not None and time.monotonic() - cached.computed_at < self.cache_seconds:
            return cached
        self.flush(FLUSH_SECONDS, shadows=False)  # this process's latest entries, never a long wait
        features, scores = self.store.latest_bins(loaded.name, loaded.version, self.window)
        if features.shape[1] != len(profile.features):  # no record yet (or written by another profile)
            features = np.zeros((0, len(profile.features)), dtype=np.int64)
            scores = np.zeros(0, dtype=np.int64)
        table = drift_table(profile, features, scores, self.thresholds)
        state = DriftState(loaded.name, loaded.version, len(scores), table, drift_alerts(table))
        if len(scores) < self.thresholds.min_rows:
            state.note = (
                f"dérive non jugée : {len(scores)} enregistrements de la version {loaded.version} "
                f"(il en faut {self.thresholds.min_rows})"
            )
        self._drift[key] = state
        if self.metrics is not None:
            self.metrics.set_drift(state)
        return state

    def close(self) -> None:
        """Finish the entries and the shadow scores queued, then close the store. A request still running
        after this keeps its entry before answering, and is not shadowed."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        self.store.close()
