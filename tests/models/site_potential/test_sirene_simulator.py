"""SIRENE-format simulator: official columns, exact oracle, survival by sector within 3 points of INSEE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.reference import Reference
from models.simulation.sirene import (
    SireneSimulationParams,
    sector_of,
    simulate_sirene,
    survival_calibration_report,
    survival_logit_offset,
    yearly_hazards,
)


@pytest.fixture(scope="module")
def sirene(reference: Reference):  # type: ignore[no-untyped-def]
    return simulate_sirene(reference, SireneSimulationParams(creations_per_year=3000, seed=8))


def test_official_columns_and_codes(sirene, reference: Reference) -> None:  # type: ignore[no-untyped-def]
    for column in (
        "siret",
        "dateCreationEtablissement",
        "activitePrincipaleEtablissement",
        "codeCommuneEtablissement",
        "etatAdministratifEtablissement",
        "trancheEffectifsEtablissement",
    ):
        assert column in sirene.stock
    for column in ("siret", "dateDebut", "dateFin", "etatAdministratifEtablissement"):
        assert column in sirene.history
    assert set(sirene.stock["activitePrincipaleEtablissement"]) <= set(reference.artisan_naf()["naf_code"])
    closed = sirene.stock["etatAdministratifEtablissement"] == "F"
    assert set(sirene.history.loc[sirene.history["etatAdministratifEtablissement"] == "F", "siret"]) == set(
        sirene.stock.loc[closed, "siret"]
    )


def test_oracle_is_a_function_of_creation_time_facts(sirene, reference: Reference) -> None:  # type: ignore[no-untyped-def]
    params = SireneSimulationParams()
    stock = sirene.stock.merge(sirene.oracle, on="siret")
    current = reference.current_commune_codes(stock["codeCommuneEtablissement"])
    year = pd.to_datetime(stock["dateCreationEtablissement"]).dt.year.to_numpy()
    offset = survival_logit_offset(
        stock["activitePrincipaleEtablissement"], current, year, reference, params.effects
    )
    survival = np.cumprod(
        1
        - yearly_hazards(
            sector_of(stock["activitePrincipaleEtablissement"], reference), offset, params.effects
        ),
        axis=1,
    )
    former = current != stock["codeCommuneEtablissement"]
    np.testing.assert_allclose(stock.loc[~former, "oracle_survival_3y"], survival[~former.to_numpy(), 2])
    np.testing.assert_allclose(stock.loc[~former, "oracle_survival_5y"], survival[~former.to_numpy(), 4])


@pytest.mark.slow
def test_simulated_survival_by_sector_is_within_3_points_of_insee(reference: Reference) -> None:
    sim = simulate_sirene(reference, SireneSimulationParams(creations_per_year=15_000, seed=4))
    report = survival_calibration_report(sim, reference)
    big = report[report["n"] >= 2000]
    assert len(big) >= 8, "both horizons, at least the main sectors"
    off = big[big["gap_points"].abs() > 3.0]
    assert off.empty, off.to_string()
