"""The commune contours (IGN Admin Express COG 2018, `communes_2018_contours.geojson.gz`), read once per
process and kept between processes as compact arrays (`.npz`) in a cache folder."""

from __future__ import annotations

import gzip
from dataclasses import fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import orjson

from catalog.reference import REFERENCE_DIR, load_passage
from models.site_potential.geometry import CommuneContours, ContourArrays

CONTOURS_FILE = "communes_2018_contours.geojson.gz"
CONTOURS_CACHE = "communes_2018_contours.npz"


def load_commune_contours(directory: Path = REFERENCE_DIR, cache_dir: Path | None = None) -> CommuneContours:
    """The contours joined to COG 2026 by the former-code table, read once per process and folders. With
    `cache_dir`, the parsed contours are kept there (`.npz`, rewritten when the GeoJSON is newer), so later
    processes skip the GeoJSON parse (1.5 s and 150 MB of transient memory, against 0.2 s)."""
    return _contours(Path(directory).resolve(), Path(cache_dir).resolve() if cache_dir is not None else None)


@lru_cache(maxsize=4)
def _contours(directory: Path, cache_dir: Path | None) -> CommuneContours:
    return CommuneContours(read_contour_arrays(directory / CONTOURS_FILE, cache_dir), load_passage(directory))


def read_contour_arrays(source: Path, cache_dir: Path | None = None) -> ContourArrays:
    """The contours of a GeoJSON file as arrays, from the `.npz` cache of `cache_dir` when it is fresh."""
    cache = cache_dir / CONTOURS_CACHE if cache_dir is not None else None
    if cache is not None and cache.exists() and cache.stat().st_mtime >= source.stat().st_mtime:
        with np.load(cache, allow_pickle=False) as saved:
            return ContourArrays(*(saved[f.name] for f in fields(ContourArrays)))
    with gzip.open(source) as handle:
        arrays = ContourArrays.from_geojson(orjson.loads(handle.read())["features"])
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".tmp.npz")
        np.savez(partial, **{f.name: getattr(arrays, f.name) for f in fields(ContourArrays)})
        partial.replace(cache)
    return arrays
