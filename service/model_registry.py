"""The models the service serves, loaded from the MLflow registry by alias, swapped atomically on reload.

By default every registered model that carries the `champion` alias is served (suffixed site models and
models retrained on a centre's extract included), discovered at start and on reload; `CMA_MODELS` adds
explicit entries (`name` or `name@alias`) and `CMA_DISCOVER_MODELS=false` restricts the service to them.
A model that fails to load never replaces the version already serving; `/ready` reports the failure.

Loading a model unpickles it, so it runs code: whoever can write the model store can run code in the
service. What the service checks is that a version's artifacts are still the ones registered: registration
records the SHA-256 of every artifact file as a digest on the model version (`DIGEST_TAG`); a load
downloads the version to a private folder, hashes it and compares before anything is unpickled, then loads
that same verified copy (no second download, so nothing can be swapped between the check and the use). A
version whose artifacts changed, or that carries no digest, is refused and the serving version stays.

The registry is a SQLite file that another process may lock, and MLflow waits 20 s per call on a locked
file: a reload runs in a worker thread and is abandoned when one of its calls to the model store has not
answered for `RELOAD_STALL_SECONDS` (a 503 `RegistryUnavailable`, the serving versions kept); two reloads
never run at the same time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import mlflow
from fastapi import HTTPException, status
from mlflow import MlflowClient

from models.interface import ScoringModel
from models.monitoring import ReferenceProfile
from service.model_schemas import SchemaSet

logger = logging.getLogger(__name__)

# The model version tag holding the digest of the version's artifacts (see `artifact_digest`).
DIGEST_TAG = "cma.artifact_sha256"
# Written by MLflow into every downloaded copy of a registered version (its name and number): not an
# artifact, and different for a copy of the same artifacts under another name.
_DOWNLOAD_META = "registered_model_meta"
# A reload is abandoned when one of its calls to the model store (a registry query, a download of
# artifacts) has not answered for this long: a healthy registry answers each in well under a second, a
# locked SQLite file makes MLflow wait 20 s per call. Hashing and unpickling, CPU work, are not timed.
RELOAD_STALL_SECONDS = 5.0
RETRY_AFTER_SECONDS = 10
# The `errors` entry that says the registry could not be read when no served model is known yet (a start
# against a locked registry): `/ready` then lists it as unavailable instead of being ready with no model.
REGISTRY_ENTRY = "mlflow_registry"

NO_DIGEST = (
    "version {version} refusée : aucune empreinte de ses artefacts n'a été enregistrée (version "
    "enregistrée avant la vérification des artefacts) ; réentraînez le modèle (make clean && make run)"
)
CHANGED = (
    "version {version} refusée : ses artefacts ne sont plus ceux enregistrés (empreinte SHA-256 "
    "différente), rien n'en a été chargé"
)
REGISTRY_STALLED = (
    "Le registre des modèles (MLflow) ne répond pas : rechargement abandonné, les versions servies restent "
    "en place ; réessayez après le délai indiqué (Retry-After)."
)
RELOAD_RUNNING = (
    "Un rechargement des modèles est déjà en cours (registre MLflow lent ou verrouillé) : réessayez après "
    "le délai indiqué (Retry-After)."
)
STALLED_REASON = (
    "aucune réponse du registre MLflow en {seconds:g} s (base verrouillée par un autre processus ?)"
)
NOT_LOADED = "registre MLflow indisponible au chargement : {reason}"


class ModelRefused(Exception):
    """A model version the service will not load: no recorded digest, or artifacts that do not match it."""


class RegistryUnavailable(HTTPException):
    """503 for a reload the registry did not let finish (no answer in time, or a reload still running): the
    error contract names the registry, `Retry-After` says when to try again, every serving model stays."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(
            status.HTTP_503_SERVICE_UNAVAILABLE, message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
        self.details = [{"store": "registry", "reason": reason}]


def artifact_manifest(folder: Path) -> list[tuple[str, str]]:
    """(relative POSIX path, SHA-256) of every file under `folder`, sorted by path; MLflow's download
    marker at the top is left out."""
    entries = []
    for root, _, files in os.walk(folder):
        for file in files:
            path = Path(root, file)
            relative = path.relative_to(folder).as_posix()
            if relative == _DOWNLOAD_META:
                continue
            with path.open("rb") as stream:
                entries.append((relative, hashlib.file_digest(stream, "sha256").hexdigest()))
    return sorted(entries)


def artifact_digest(folder: Path) -> str:
    """One SHA-256 over the sorted manifest of `folder` (a renamed, added, removed or changed file changes
    it): what registration records on a model version and what a load compares."""
    manifest = "".join(f"{sha}  {relative}\n" for relative, sha in artifact_manifest(folder))
    return hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def download_model(model_uri: str, folder: Path) -> Path:
    """Copy the artifacts of `model_uri` into `folder` (never the store's own files: a local artifact
    store hands out its own path when no destination is given) and return the model's folder."""
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(folder)))


@dataclass(frozen=True)
class LoadedModel:
    """One served model in memory: its face (`models.interface.ScoringModel`), version, metrics, card and
    the request and response schemas derived from its contract."""

    name: str
    version: str
    model: ScoringModel
    metrics: dict[str, float]
    card: str
    loaded_at: str
    schemas: SchemaSet
    profile: ReferenceProfile | None = None  # the inputs' and scores' reference, logged at registration


CHALLENGER_ALIAS = "challenger"


def _entry(entry: str, alias: str) -> tuple[str, str]:
    """(registered name, alias) of a served entry `name` or `name@alias`."""
    name, _, given = entry.partition("@")
    return name, given or alias


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err)[:200]}"


def reference_profile_of(python_model: object, name: str) -> ReferenceProfile | None:
    """The reference profile a loaded version carries (None for a version registered before profiles, or
    one whose profile cannot be read: its drift is then not judged, and `/ready` says so)."""
    given = getattr(python_model, "reference_profile", None)
    if not isinstance(given, dict):
        return None
    try:
        return ReferenceProfile.from_dict(given)
    except (KeyError, TypeError, ValueError) as err:
        logger.warning("%s: reference profile unreadable (%s)", name, type(err).__name__)
        return None


def load_verified(folder: Path) -> object:
    """The python model of the verified copy in `folder`; the code folder MLflow puts on `sys.path` for
    it is taken off again (the copy is deleted once loaded)."""
    try:
        return mlflow.pyfunc.load_model(str(folder)).unwrap_python_model()
    finally:
        sys.path[:] = [p for p in sys.path if not p.startswith(str(folder))]


@dataclass
class _Reload:
    """One reload run by a worker thread: since when it waits on the registry (None while it computes),
    what it found, whether the caller gave up on it."""

    waiting_since: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    abandoned: bool = False
    outcome: dict[str, str] = field(default_factory=dict)
    error: BaseException | None = None
    challengers: dict[str, LoadedModel | str] | None = None  # None: discovery did not answer

    @contextmanager
    def registry_call(self) -> Iterator[None]:
        """Time one call to the model store (a registry query, a download): the caller's watchdog."""
        self.waiting_since = time.monotonic()
        try:
            yield
        finally:
            self.waiting_since = None


@dataclass
class ModelRegistry:
    """Served name -> loaded model, plus the last load error of each name.

    A served name is the registered name (served by `alias`), or `name@other_alias` for an explicit entry
    with another alias.
    """

    names: tuple[str, ...] = ()
    alias: str = "champion"
    discover: bool = True
    models: dict[str, LoadedModel] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # Served name -> the version carrying `challenger`, shadow-scored beside the champion (discovered models
    # served by `champion` only), and the last load error of each challenger (never a readiness failure).
    challengers: dict[str, LoadedModel] = field(default_factory=dict)
    challenger_errors: dict[str, str] = field(default_factory=dict)
    stall_seconds: float = field(default_factory=lambda: RELOAD_STALL_SECONDS)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _reloading: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _started: bool = field(default=False, repr=False)
    _with_challenger: list[str] = field(default_factory=list, repr=False)

    def get(self, name: str) -> LoadedModel | None:
        """The serving version of `name` (None when none could ever be loaded)."""
        return self.models.get(name)

    def served(self) -> tuple[str, ...]:
        """Every served name: the discovered ones and the explicit entries, in a stable order."""
        return tuple(dict.fromkeys([*self.models, *self.errors, *self.names]))

    def discovered(self) -> list[str]:
        """Registered models that carry the alias (and, in `_with_challenger`, those of them that also
        carry `challenger`, when the service serves champions)."""
        out, shadowed = [], []
        for registered in MlflowClient().search_registered_models():
            aliases = registered.aliases or {}
            if self.alias in aliases:
                out.append(registered.name)
                if self.alias == "champion" and CHALLENGER_ALIAS in aliases:
                    shadowed.append(registered.name)
        self._with_challenger = sorted(shadowed)
        return sorted(out)

    def challenger(self, name: str) -> LoadedModel | None:
        """The challenger shadow-scored beside the served model `name`, if any."""
        return self.challengers.get(name)

    def load(
        self, name: str, registry_call: Callable[[], AbstractContextManager[None]] = nullcontext
    ) -> LoadedModel:
        """Load the served entry `name` from the registry, from a local copy of its artifacts checked
        against the digest recorded at registration before anything is unpickled.

        Raises `ModelRefused` for a version without a digest or whose artifacts changed, `TypeError` for a
        model that does not implement the scoring face, MLflow's errors otherwise. Each call to the model
        store runs inside `registry_call()` (the reload's watchdog); hashing and unpickling do not.
        """
        registered, alias = _entry(name, self.alias)
        client = MlflowClient()
        with registry_call():
            version = client.get_model_version_by_alias(registered, alias)
        expected = (version.tags or {}).get(DIGEST_TAG)
        if not expected:
            raise ModelRefused(NO_DIGEST.format(version=version.version))
        with tempfile.TemporaryDirectory(prefix="cma-model-") as tmp:
            with registry_call():
                local = download_model(f"models:/{registered}/{version.version}", Path(tmp))
            if artifact_digest(local) != expected:
                logger.warning(
                    "%s v%s refused: its artifacts do not match their digest", name, version.version
                )
                raise ModelRefused(CHANGED.format(version=version.version))
            python_model = load_verified(local)
            model = getattr(python_model, "model", None)
            profile = reference_profile_of(python_model, name)
        if not isinstance(model, ScoringModel):
            raise TypeError(
                f"{registered} v{version.version} does not implement the scoring face (retrain it)"
            )
        with registry_call():
            run = client.get_run(version.run_id) if version.run_id else None
        metrics = {k: v for k, v in (run.data.metrics.items() if run else []) if k.startswith("test_")}
        return LoadedModel(
            name=name,
            version=str(version.version),
            model=model,
            metrics=metrics,
            card=version.description or "",
            loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
            schemas=SchemaSet.of(model, registered),
            profile=profile,
        )

    def reload(self) -> dict[str, str]:
        """Load every served model; keep the serving version of any name whose new one fails to load.

        Returns name -> outcome ("vN loaded", "vN kept: <reason>", "unavailable: <reason>"). The work runs
        in a worker thread watched by this one: when one of its calls to the model store has not answered
        for `stall_seconds` (a locked registry), or another reload is still running, raises
        `RegistryUnavailable` and changes nothing that serves. The first load (at start-up) does not raise:
        it reports the models unavailable, and an abandoned reload that finishes later still fills the
        names that had no serving version.
        """
        first = not self._started
        self._started = True
        if not self._reloading.acquire(timeout=self.stall_seconds):
            raise RegistryUnavailable(RELOAD_RUNNING, STALLED_REASON.format(seconds=self.stall_seconds))
        job = _Reload()
        try:
            threading.Thread(target=self._run, args=(job,), name="model-reload", daemon=True).start()
        except BaseException:
            self._reloading.release()
            raise
        while not job.done.wait(0.05):
            since = job.waiting_since
            if since is None or time.monotonic() - since <= self.stall_seconds:
                continue
            with self._lock:
                if job.done.is_set():
                    break
                job.abandoned = True
                reason = STALLED_REASON.format(seconds=self.stall_seconds)
                self._mark_unavailable(reason)
            logger.warning("reload abandoned: %s", reason)
            if first:
                return {name: f"unavailable: {reason}" for name in self.served() if name not in self.models}
            raise RegistryUnavailable(REGISTRY_STALLED, reason)
        if job.error is not None:
            raise job.error
        return job.outcome

    def _mark_unavailable(self, reason: str) -> None:
        """After an abandoned reload: the names with no serving version say why (the registry entry when
        no name is known at all); serving versions and their state are left as they are."""
        missing = [name for name in self.names if name not in self.models]
        if not self.models and not missing and not self.errors:
            missing = [REGISTRY_ENTRY]
        self.errors = {**self.errors, **{name: NOT_LOADED.format(reason=reason) for name in missing}}

    def _run(self, job: _Reload) -> None:
        """The worker of one reload: find and load every served model, then apply the results at once (all
        of them in time; only those of names with no serving version once the caller gave up)."""
        try:
            found, results = self._collect(job)
            with self._lock:
                self._apply(found, results, late=job.abandoned)
                if job.challengers is not None and not job.abandoned:
                    self.challengers = {
                        n: c for n, c in job.challengers.items() if isinstance(c, LoadedModel)
                    }
                    self.challenger_errors = {n: c for n, c in job.challengers.items() if isinstance(c, str)}
                job.outcome = self._outcome(results) if not job.abandoned else {}
                job.done.set()
            if job.abandoned:
                logger.warning("a reload abandoned earlier finished: %s", self._outcome(results))
        except BaseException as err:  # handed to the caller, who raises it (if still waiting)
            job.error = err
            if job.abandoned:
                logger.warning("a reload abandoned earlier failed: %s", _reason(err))
        finally:
            job.done.set()
            self._reloading.release()

    def _collect(self, job: _Reload) -> tuple[bool, dict[str, LoadedModel | str]]:
        """(whether discovery answered, name -> loaded model or failure reason)."""
        wanted = list(self.names)
        found = True
        if self.discover:
            try:
                with job.registry_call():
                    wanted = [*self.discovered(), *wanted]
            except Exception as err:  # the registry is unreachable: keep serving what is loaded
                logger.warning("discovering models failed: %s", err)
                wanted = [*self.models, *wanted]
                found = False
        results: dict[str, LoadedModel | str] = {}
        for name in dict.fromkeys(wanted):
            try:
                results[name] = self.load(name, job.registry_call)
            except Exception as err:
                results[name] = _reason(err)
                logger.warning("loading %s failed: %s", name, results[name])
        if not found and not results:
            results[REGISTRY_ENTRY] = NOT_LOADED.format(reason="découverte des modèles impossible")
        if found:
            shadows: dict[str, LoadedModel | str] = {}
            for name in self._with_challenger:
                try:
                    shadows[name] = self.load(f"{name}@{CHALLENGER_ALIAS}", job.registry_call)
                except Exception as err:
                    shadows[name] = _reason(err)
                    logger.warning("loading the challenger of %s failed: %s", name, shadows[name])
            job.challengers = shadows
        return found, results

    def _apply(self, found: bool, results: dict[str, LoadedModel | str], late: bool) -> None:
        """Swap in the loaded models and record the failures (under the lock); a late result never
        replaces a serving version."""
        models, errors = dict(self.models), dict(self.errors)
        if found:
            errors.pop(REGISTRY_ENTRY, None)
        for name, result in results.items():
            if late and name in self.models:
                continue
            if isinstance(result, LoadedModel):
                models[name] = result
                errors.pop(name, None)
            else:
                errors[name] = result
        self.models, self.errors = models, errors

    def _outcome(self, results: dict[str, LoadedModel | str]) -> dict[str, str]:
        out = {}
        for name, result in results.items():
            current = self.models.get(name)
            if isinstance(result, LoadedModel):
                out[name] = f"v{result.version} loaded"
            elif current is not None:
                out[name] = f"v{current.version} kept: {result}"
            else:
                out[name] = f"unavailable: {result}"
        return out
