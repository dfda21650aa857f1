"""The commune contours: read once per process, kept between processes as `.npz`, re-read when stale."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import catalog.contours as catalog_contours
from catalog.contours import CONTOURS_CACHE, CONTOURS_FILE, load_commune_contours, read_contour_arrays
from catalog.reference import REFERENCE_DIR


@pytest.fixture()
def reference_copy(tmp_path: Path) -> Path:
    """The contours and the former-code table in a folder of their own (its own in-process cache)."""
    folder = tmp_path / "reference"
    folder.mkdir()
    for name in (CONTOURS_FILE, "communes_passage_2026.csv.gz"):
        (folder / name).write_bytes((REFERENCE_DIR / name).read_bytes())
    return folder


def _no_geojson(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("the GeoJSON was parsed again")

    monkeypatch.setattr(catalog_contours.gzip, "open", refused)


def test_contours_are_read_once_per_process(reference_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contours = load_commune_contours(reference_copy)
    _no_geojson(monkeypatch)
    assert load_commune_contours(reference_copy) is contours
    assert contours.parts_of("33063") and contours.parts_of("69384") == contours.parts_of("69123")


def test_the_npz_cache_spares_later_processes_the_parse(
    reference_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    parsed = read_contour_arrays(reference_copy / CONTOURS_FILE, cache_dir)
    assert (cache_dir / CONTOURS_CACHE).exists() and not list(cache_dir.glob("*.tmp.npz"))
    _no_geojson(monkeypatch)
    cached = read_contour_arrays(reference_copy / CONTOURS_FILE, cache_dir)
    for name in ("codes", "contour_rings", "ring_starts", "coords"):
        assert np.array_equal(getattr(cached, name), getattr(parsed, name)), name


def test_a_stale_cache_is_rewritten(reference_copy: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    source = reference_copy / CONTOURS_FILE
    read_contour_arrays(source, cache_dir)
    cache = cache_dir / CONTOURS_CACHE
    stale = source.stat().st_mtime - 3600  # the GeoJSON is now newer than its cache
    os.utime(cache, (stale, stale))
    read_contour_arrays(source, cache_dir)
    assert cache.stat().st_mtime >= source.stat().st_mtime
