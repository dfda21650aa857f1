"""The territory: communes with their demography, and which communes lie within 10 and 20 km of each."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.neighbors import BallTree

from models.reference import Reference

EARTH_RADIUS_KM = 6371.0088
RADII_KM: tuple[int, ...] = (10, 20)


@dataclass
class Territory:
    """Communes (COG 2026, PLM cities by arrondissement) and their neighbourhoods.

    `within[r]` is a sparse 0/1 matrix: row i has a 1 for every commune whose centre lies within r km of
    commune i's centre (itself included), so `within[r] @ x` sums x over each commune's catchment.
    """

    communes: pd.DataFrame  # indexed by commune_code
    within: dict[int, sparse.csr_matrix]

    @property
    def codes(self) -> pd.Index:
        """Commune codes, in row order."""
        return self.communes.index

    def position(self, commune_code: str) -> int:
        """Row of a commune code (KeyError when unknown)."""
        found = self.communes.index.get_indexer(pd.Index([commune_code]))[0]
        if found < 0:
            raise KeyError(commune_code)
        return int(found)


def build_territory(reference: Reference, stats: pd.DataFrame | None = None) -> Territory:
    """Communes with population, area, density, growth 2015-2021 and unemployment, and their neighbours.

    `stats` (commune_code, superficie_km2, population_2015, population_2021, pop_15_64_chomage_2021,
    pop_15_64_active_2021) comes from INSEE's comparateur de territoires; communes missing from it get
    missing values.
    """
    communes = reference.populated_communes().set_index("commune_code")
    communes = communes[communes["latitude"].notna() & communes["longitude"].notna()].copy()
    if stats is not None:
        numeric = stats.set_index("commune_code").apply(pd.to_numeric, errors="coerce")
        numeric = numeric[~numeric.index.duplicated()]
        communes = communes.join(numeric, how="left")
    else:
        for col in (
            "superficie_km2",
            "population_2015",
            "population_2021",
            "pop_15_64_chomage_2021",
            "pop_15_64_active_2021",
        ):
            communes[col] = np.nan
    communes["density"] = communes["population"] / communes["superficie_km2"].where(
        communes["superficie_km2"] > 0
    )
    years = 6.0
    ratio = communes["population_2021"] / communes["population_2015"].where(communes["population_2015"] > 0)
    communes["growth"] = (ratio ** (1 / years) - 1) * 100
    active = communes["pop_15_64_active_2021"].where(communes["pop_15_64_active_2021"] > 0)
    communes["unemployment"] = communes["pop_15_64_chomage_2021"] / active * 100
    coords = np.radians(communes[["latitude", "longitude"]].to_numpy(dtype=float))
    tree = BallTree(coords, metric="haversine")
    within: dict[int, sparse.csr_matrix] = {}
    n = len(communes)
    for radius in RADII_KM:
        neighbours = tree.query_radius(coords, r=radius / EARTH_RADIUS_KM)
        rows = np.repeat(np.arange(n), [len(x) for x in neighbours])
        cols = np.concatenate(neighbours)
        within[radius] = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(n, n))
    pop = communes["population"].to_numpy(dtype=float)
    for radius in RADII_KM:
        communes[f"catchment_{radius}km"] = within[radius] @ pop
    return Territory(communes=communes, within=within)
