"""Commune contours and the competition map of a diagnostic: the commune and its neighbours within 20 km,
shaded by competitor density, drawn from real geometries (no tile server).

Contours are IGN Admin Express COG 2018 (`data_samples/reference/communes_2018_contours.geojson.gz`); they
are joined to COG 2026 through the former-code table: a commune nouvelle is the union of its former
communes, an arrondissement of Paris, Lyon or Marseille lies inside its city's contour. The files are read
by `catalog.contours`; this module only shapes and draws what it is handed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from models.reference import PLM_PARENT_CODES
from models.site_potential.indicators import SiteStore

KM_PER_DEGREE_LAT = 110.574
KM_PER_DEGREE_LON_EQUATOR = 111.320
DENSITY_COLOURS: tuple[str, ...] = ("#f1eef6", "#bdc9e1", "#74a9cf", "#2b8cbe", "#045a8d")
NO_DATA_COLOUR = "#e5e5e5"


@dataclass(frozen=True)
class ContourArrays:
    """All contours in four arrays (compact: about 7 MB for France, against 150 MB as parsed GeoJSON).

    Contour i has rings `contour_rings[i]` to `contour_rings[i + 1]`; ring j has points `ring_starts[j]` to
    `ring_starts[j + 1]` of `coords` (lon, lat).
    """

    codes: np.ndarray
    contour_rings: np.ndarray
    ring_starts: np.ndarray
    coords: np.ndarray

    @classmethod
    def from_geojson(cls, features: Sequence[Mapping[str, Any]]) -> ContourArrays:
        """From GeoJSON features (Polygon or MultiPolygon) with a `code` property."""
        codes, contour_rings, ring_starts, chunks = [], [0], [0], []
        for feature in features:
            geometry = feature["geometry"]
            polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
            for polygon in polygons:
                for ring in polygon:
                    chunks.append(np.asarray(ring, dtype=np.float64))
                    ring_starts.append(ring_starts[-1] + len(ring))
            codes.append(str(feature["properties"]["code"]))
            contour_rings.append(len(ring_starts) - 1)
        return cls(
            np.array(codes, dtype=str),
            np.array(contour_rings, dtype=np.int64),
            np.array(ring_starts, dtype=np.int64),
            np.concatenate(chunks),
        )


class CommuneContours:
    """Contours of the 2018 communes, reachable by COG 2026 code."""

    def __init__(self, arrays: ContourArrays, passage: pd.DataFrame) -> None:
        """`passage`: `code_insee` (former or current code) -> `code_insee_2026`."""
        self.arrays = arrays
        codes = [str(c) for c in arrays.codes]
        self._position = {code: i for i, code in enumerate(codes)}
        to_2026 = dict(
            zip(passage["code_insee"].astype(str), passage["code_insee_2026"].astype(str), strict=True)
        )
        self.current: dict[str, str] = {code: to_2026.get(code, code) for code in codes}
        self.parts: dict[str, list[str]] = {}
        for code, current in self.current.items():
            self.parts.setdefault(current, []).append(code)
        self._codes = np.array(codes, dtype=object)
        first = arrays.ring_starts[arrays.contour_rings[:-1]]
        last = arrays.ring_starts[arrays.contour_rings[1:]]
        lows = np.minimum.reduceat(arrays.coords, first, axis=0)
        highs = np.maximum.reduceat(arrays.coords, first, axis=0)
        if not (last > first).all():
            raise ValueError("a contour without points")
        self._centres = (lows + highs) / 2

    def rings(self, code_2018: str) -> list[np.ndarray]:
        """The rings (lon, lat arrays) of a 2018 contour."""
        i = self._position[code_2018]
        a = self.arrays
        return [
            a.coords[a.ring_starts[j] : a.ring_starts[j + 1]]
            for j in range(a.contour_rings[i], a.contour_rings[i + 1])
        ]

    def parts_of(self, commune_code: str) -> list[str]:
        """The 2018 contours that make up a COG 2026 commune (its city's for an arrondissement)."""
        if commune_code in self.parts:
            return self.parts[commune_code]
        parent = _plm_parent(commune_code)
        return self.parts.get(parent, []) if parent else []

    def near(self, lon: float, lat: float, radius_km: float) -> list[str]:
        """2018 contours whose centre lies within `radius_km` of a point."""
        x, y = project(self._centres[:, 0], self._centres[:, 1], lat)
        cx, cy = project(np.array([lon]), np.array([lat]), lat)
        inside = np.hypot(x - cx[0], y - cy[0]) <= radius_km
        return [str(c) for c in self._codes[inside]]


def _plm_parent(commune_code: str) -> str | None:
    """Paris, Lyon or Marseille for one of their arrondissements."""
    if commune_code.startswith("751") and len(commune_code) == 5:
        return "75056"
    if commune_code.startswith("6938"):
        return "69123"
    if commune_code.startswith("132") and commune_code <= "13216":
        return "13055"
    return None


def project(lon: np.ndarray, lat: np.ndarray, lat0: float) -> tuple[np.ndarray, np.ndarray]:
    """Kilometres east and north on a local equirectangular projection (fine at 20 km)."""
    x = lon * KM_PER_DEGREE_LON_EQUATOR * math.cos(math.radians(lat0))
    y = lat * KM_PER_DEGREE_LAT
    return x, y


@dataclass(frozen=True)
class MapArea:
    """One shaded area of the map: a commune of 2026 (or a city of arrondissements)."""

    code: str
    name: str
    density: float | None  # competitors per 10,000 inhabitants
    colour: str
    rings: tuple[np.ndarray, ...]  # km, relative to the map centre
    is_project: bool


@dataclass(frozen=True)
class CompetitionMap:
    """What both renderers (SVG for the page, PDF) draw: areas in km around the project's commune."""

    areas: tuple[MapArea, ...]
    radius_km: float
    marker: tuple[float, float] | None  # the arrondissement's centre inside its city, km
    breaks: tuple[float, ...]  # upper bounds of the density classes
    colours: tuple[str, ...]
    legend_title: str


def competition_map(
    contours: CommuneContours,
    communes: pd.DataFrame,
    density: pd.Series,
    commune_code: str,
    radius_km: float = 20.0,
) -> CompetitionMap | None:
    """The map of a project's commune and its neighbours within `radius_km`, shaded by `density`
    (competitors per 10,000 inhabitants, indexed by COG 2026 code). `communes`: the territory's communes
    (name, latitude, longitude, population, indexed by code). None when the commune has no contour."""
    if commune_code not in communes.index or not contours.parts_of(commune_code):
        return None
    position = communes.index.get_loc(commune_code)
    lat0 = float(communes["latitude"].to_numpy(dtype=float)[position])
    lon0 = float(communes["longitude"].to_numpy(dtype=float)[position])
    cx, cy = project(np.array([lon0]), np.array([lat0]), lat0)
    project_parts = set(contours.parts_of(commune_code))
    codes_2018 = set(contours.near(lon0, lat0, radius_km * 1.3)) | project_parts
    by_area: dict[str, list[str]] = {}
    for code in codes_2018:
        by_area.setdefault(contours.current[code], []).append(code)
    values = _area_densities(communes, density, list(by_area))
    finite = np.array([v for v in values.values() if v is not None and np.isfinite(v)])
    breaks = _breaks(finite)
    areas = []
    for area, parts in sorted(by_area.items()):
        rings = []
        for code in parts:
            for ring in contours.rings(code):
                x, y = project(ring[:, 0], ring[:, 1], lat0)
                rings.append(np.column_stack([x - cx[0], y - cy[0]]))
        value = values.get(area)
        name = str(communes.at[area, "commune_name"]) if area in communes.index else _city_name(area)
        areas.append(
            MapArea(
                code=area,
                name=name,
                density=value,
                colour=_colour(value, breaks),
                rings=tuple(rings),
                is_project=bool(project_parts & set(parts)),
            )
        )
    marker = None
    if commune_code not in contours.parts:  # an arrondissement: a marker at its centre
        marker = (0.0, 0.0)
    return CompetitionMap(
        areas=tuple(sorted(areas, key=lambda a: a.is_project)),  # the project's commune drawn last
        radius_km=radius_km,
        marker=marker,
        breaks=breaks,
        colours=DENSITY_COLOURS,
        legend_title="Établissements concurrents pour 10 000 habitants",
    )


def diagnostic_map(
    contours: CommuneContours, store: SiteStore, naf_code: str, commune_code: str, radius_km: float = 20.0
) -> CompetitionMap | None:
    """The map of a diagnostic: the activity's competitors per 10,000 inhabitants in each commune around."""
    density = store.table(naf_code)[0]["competitors_per_10k"]
    cmap = competition_map(contours, store.territory.communes, density, commune_code, radius_km)
    if cmap is None:
        return None
    source = store.competition_source(naf_code).label
    return replace(cmap, legend_title=f"{cmap.legend_title} ({source})")


def _city_name(code: str) -> str:
    return {"75056": "Paris", "69123": "Lyon", "13055": "Marseille"}.get(code, code)


def _area_densities(communes: pd.DataFrame, density: pd.Series, areas: list[str]) -> dict[str, float | None]:
    """Density of each area; a city of arrondissements aggregates its arrondissements."""
    out: dict[str, float | None] = {}
    for area in areas:
        if area in PLM_PARENT_CODES:
            members = [c for c in communes.index if _plm_parent(str(c)) == area]
            population = communes.loc[members, "population"].astype(float)
            competitors = (density.reindex(members).fillna(0) * population / 10_000).sum()
            total = population.sum()
            out[area] = float(competitors / total * 10_000) if total > 0 else None
        else:
            value = density.get(area)
            out[area] = float(value) if value is not None and np.isfinite(value) else None
    return out


def _breaks(values: np.ndarray) -> tuple[float, ...]:
    """Upper bounds of five classes: none (0), then four quantile classes of the positive values (rounded,
    strictly increasing)."""
    positive = values[values > 0]
    if len(positive) == 0:
        return (0.0, 1.0, 2.0, 3.0, 4.0)
    out: list[float] = [0.0]
    for q in np.quantile(positive, [0.25, 0.5, 0.75, 1.0]):
        value = round(float(q), 1)
        out.append(value if value > out[-1] else round(out[-1] + 0.1, 1))
    return tuple(out)


def _colour(value: float | None, breaks: tuple[float, ...]) -> str:
    if value is None or not np.isfinite(value):
        return NO_DATA_COLOUR
    for bound, colour in zip(breaks, DENSITY_COLOURS, strict=True):
        if value <= bound:
            return colour
    return DENSITY_COLOURS[-1]
