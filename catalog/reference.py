"""The reference open data shipped in `data_samples/reference/`: one reader per file, each read once per
process (the frames and objects returned are shared: callers treat them as read-only).

| file | reader |
|---|---|
| `communes_cog2026.csv.gz`, `naf_rev2_sous_classes.csv` | `load_reference` |
| `communes_stats_2021.csv.gz` | `load_commune_stats` (and `load_territory`, built on it) |
| `communes_passage_2026.csv.gz` | `load_passage` |
| `codes_postaux_communes.csv.gz` | `load_postal_codes` |
| `communes_2018_contours.geojson.gz` | `catalog.contours.load_commune_contours` |
| `../bpe/naf_bpe_types.csv` | `load_bpe_types` (the counts, `BPE_SAMPLE`, are ingested by `pipelines.bpe`) |
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from pathlib import Path
from typing import Protocol, TypeVar

import pandas as pd

from models.reference import Reference, reference_from_frames
from models.site_potential.territory import Territory, build_territory

DATA_SAMPLES = Path(__file__).resolve().parent.parent / "data_samples"
REFERENCE_DIR = DATA_SAMPLES / "reference"

COMMUNES_FILE = "communes_cog2026.csv.gz"
NAF_FILE = "naf_rev2_sous_classes.csv"
STATS_FILE = "communes_stats_2021.csv.gz"
PASSAGE_FILE = "communes_passage_2026.csv.gz"
POSTAL_CODES_FILE = "codes_postaux_communes.csv.gz"
BPE_DIR = DATA_SAMPLES / "bpe"
BPE_SAMPLE = BPE_DIR / "bpe_artisanat_communes_2009_2013.csv.gz"
"""INSEE BPE 2009 and 2013: counts by commune of the artisan equipment types (see the folder's datasheet)."""
NAF_BPE_FILE = "naf_bpe_types.csv"


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class FolderReader(Protocol[T_co]):
    """A reader of one file of a reference folder (default: the shipped one)."""

    def __call__(self, directory: Path = REFERENCE_DIR) -> T_co: ...


def read_once(read: Callable[[Path], T]) -> FolderReader[T]:
    """`read(directory)` run once per folder and process, however the folder is named (default, given,
    relative): the cache is keyed on the resolved path."""
    cached = lru_cache(maxsize=4)(read)

    @wraps(read)
    def reader(directory: Path = REFERENCE_DIR) -> T:
        return cached(Path(directory).resolve())

    return reader


def _read_table(path: Path) -> pd.DataFrame:
    """An open-data table as texts: codes keep their leading zeros, empty cells stay empty strings."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@read_once
def load_reference(directory: Path = REFERENCE_DIR) -> Reference:
    """COG 2026 communes and NAF rev.2 sub-classes (with the décret 98-247 artisan flag)."""
    return reference_from_frames(_read_table(directory / COMMUNES_FILE), _read_table(directory / NAF_FILE))


@read_once
def load_commune_stats(directory: Path = REFERENCE_DIR) -> pd.DataFrame:
    """INSEE statistics of the communes (area, populations 2015 and 2021, unemployment), as texts."""
    return _read_table(directory / STATS_FILE)


@read_once
def load_passage(directory: Path = REFERENCE_DIR) -> pd.DataFrame:
    """Former -> current (COG 2026) commune codes: `code_insee`, `code_insee_2026`."""
    return _read_table(directory / PASSAGE_FILE)


@read_once
def load_postal_codes(directory: Path = REFERENCE_DIR) -> pd.DataFrame:
    """Postal code -> commune: `code_postal`, `code_insee` (brought to COG 2026), `nom_commune`."""
    codes = _read_table(directory / POSTAL_CODES_FILE)
    reference = load_reference(directory)
    codes["code_insee"] = reference.current_commune_codes(codes["code_insee"]).astype(str).to_numpy()
    return codes[["code_postal", "code_insee", "nom_commune"]].drop_duplicates(["code_postal", "code_insee"])


@read_once
def _shipped_territory(directory: Path) -> Territory:
    return build_territory(load_reference(directory), load_commune_stats(directory))


def load_territory(reference: Reference | None = None, directory: Path = REFERENCE_DIR) -> Territory:
    """Communes, their INSEE statistics and their 10/20 km neighbourhoods (about 2 s to build).

    Built once per process for the shipped reference (`reference` omitted, or the one `load_reference`
    returns); built afresh for any other reference."""
    if reference is None or reference is load_reference(directory):
        return _shipped_territory(directory)
    return build_territory(reference, load_commune_stats(directory))


@read_once
def _bpe_types(directory: Path) -> pd.DataFrame:
    return _read_table(directory / NAF_BPE_FILE)


def load_bpe_types(directory: Path = BPE_DIR) -> pd.DataFrame:
    """NAF sub-class -> BPE equipment type (`naf_code, typequ, bpe_label`): the activities whose competitors
    BPE counts (read once)."""
    return _bpe_types(directory)
