"""SIRENE-format simulator: official columns, exact oracle, survival by sector within 3 points of INSEE; with
BPE placement, counts per activity and commune that follow INSEE's BPE and the published artisan total."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from catalog.reference import BPE_SAMPLE, load_bpe_types, load_passage
from models.reference import Reference
from models.simulation.sirene import (
    BPE_SURVIVAL_EFFECTS,
    SimulatedSirene,
    SireneSimulationParams,
    bpe_placement_targets,
    count_calibration_report,
    expected_active_share,
    expected_survival_by_sector,
    sector_of,
    simulate_sirene,
    survival_calibration_report,
    survival_logit_offset,
    yearly_hazards,
)
from models.site_potential.sectors import PUBLISHED_SURVIVAL_3Y, PUBLISHED_SURVIVAL_5Y
from pipelines.bpe import read_bpe

# 5 % of France: about 56,000 active establishments, 110,000 created, in seconds.
BPE_PARAMS = SireneSimulationParams(placement="bpe", scale=0.05, seed=3)


@pytest.fixture(scope="module")
def sirene(reference: Reference):  # type: ignore[no-untyped-def]
    return simulate_sirene(reference, SireneSimulationParams(creations_per_year=3000, seed=8))


@pytest.fixture(scope="module")
def bpe(reference: Reference) -> tuple[pd.DataFrame, pd.DataFrame]:
    types = load_bpe_types()
    counts, _, _ = read_bpe(BPE_SAMPLE, reference, load_passage(), types)
    return counts, types


@pytest.fixture(scope="module")
def bpe_sirene(reference: Reference, bpe: tuple[pd.DataFrame, pd.DataFrame]) -> SimulatedSirene:
    return simulate_sirene(reference, BPE_PARAMS, *bpe)


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


@pytest.mark.parametrize("placement", ["population", "bpe"])
def test_oracle_is_a_function_of_creation_time_facts(  # type: ignore[no-untyped-def]
    placement: str, sirene, bpe_sirene: SimulatedSirene, reference: Reference
) -> None:
    params, sim = (
        (SireneSimulationParams(), sirene) if placement == "population" else (BPE_PARAMS, bpe_sirene)
    )
    stock = sim.stock.merge(sim.oracle, on="siret")
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


def test_population_placement_gives_the_same_files_as_before(reference: Reference) -> None:
    """Digest of the files the simulator wrote before BPE placement existed (commit f7fa26b), same seed."""
    sim = simulate_sirene(reference, SireneSimulationParams(creations_per_year=500, seed=5))
    digest = hashlib.sha256()
    for frame in (sim.stock, sim.history, sim.oracle):
        digest.update(frame.to_csv(index=False).encode())
    assert len(sim.stock) == 11_000
    assert digest.hexdigest() == "b5dbf9f03dd1d62c2e5c6cf4335f6ca333260b6859a91809537144736bfa9342"


def test_placement_and_its_inputs_go_together(
    reference: Reference, bpe: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    with pytest.raises(ValueError, match="needs the BPE counts"):
        simulate_sirene(reference, BPE_PARAMS)
    with pytest.raises(ValueError, match="placement is 'population'"):
        simulate_sirene(reference, SireneSimulationParams(creations_per_year=10), *bpe)
    with pytest.raises(ValueError, match="below the artisan establishments"):
        simulate_sirene(reference, BPE_PARAMS.model_copy(update={"artisan_total": 500_000}), *bpe)
    assert BPE_PARAMS.effects == BPE_SURVIVAL_EFFECTS
    assert SireneSimulationParams().effects != BPE_SURVIVAL_EFFECTS


def test_expected_active_share_matches_the_simulated_closures(sirene, reference: Reference) -> None:  # type: ignore[no-untyped-def]
    """The closed form behind the number of creations: the simulated actives are a sum of Bernoulli draws
    of marginal probability `expected_active_share`, within 4 standard deviations of its sum."""
    stock = sirene.stock
    share = expected_active_share(
        stock["activitePrincipaleEtablissement"],
        reference.current_commune_codes(stock["codeCommuneEtablissement"]),
        reference,
        SireneSimulationParams(),
    )
    active = int((stock["etatAdministratifEtablissement"] == "A").sum())
    assert abs(active - share.sum()) < 4 * np.sqrt((share * (1 - share)).sum())


def test_bpe_placement_national_counts_follow_bpe_and_the_artisan_total(  # type: ignore[no-untyped-def]
    bpe_sirene: SimulatedSirene, reference: Reference, bpe
) -> None:
    """Each count is a sum of independent draws (activity, then survival) whose variance is about its
    expectation: within 4 standard deviations (sqrt of the expected count; 1.7 % of the artisan total,
    5.6 % to 6.6 % of the seven types above 3,500 expected at this scale), a false alarm has a probability
    below 1e-4 per row."""
    report = count_calibration_report(bpe_sirene, reference, BPE_PARAMS, *bpe)
    assert len(report) == 15 + 6 + 2, "15 BPE types, 3 communes x 2 rows, outside BPE and total"
    france = report[report["figure"].str.endswith(", France")]
    off = france[(france["simulated"] - france["expected"]).abs() > 4 * np.sqrt(france["expected"])]
    assert off.empty, off.to_string()
    total = report.set_index("figure").loc["artisan establishments, France"]
    assert total["published"] == 1_114_000
    assert total["expected"] == pytest.approx(1_114_000 * BPE_PARAMS.scale)
    restaurants = report[report["figure"].str.startswith("A504")].iloc[0]
    assert restaurants["artisan_share"] == pytest.approx(0.30)
    assert set(bpe_sirene.stock["activitePrincipaleEtablissement"]) <= set(
        reference.artisan_naf()["naf_code"]
    )


def test_bpe_placement_commune_counts_follow_bpe(  # type: ignore[no-untyped-def]
    bpe_sirene: SimulatedSirene, reference: Reference, bpe
) -> None:
    """By commune, the simulated count of a type is a Poisson-like draw around its BPE-derived expectation
    e: the dispersion sum (s - e)^2 / sum e stays near 1 (population placement gives 1.4 for
    hairdressers), and the correlation with BPE reaches the bound Poisson noise allows at this scale,
    sd(e) / sqrt(var(e) + mean(e)) (it tends to 1 at real magnitude); all types together, above 0.95."""
    counts, types = bpe
    targets = bpe_placement_targets(reference, BPE_PARAMS, counts, types)
    active = bpe_sirene.stock[bpe_sirene.stock["etatAdministratifEtablissement"] == "A"]
    simulated = (
        pd.DataFrame(
            {
                "typequ": active["activitePrincipaleEtablissement"].map(
                    types.set_index("naf_code")["typequ"]
                ),
                "commune_code": reference.current_commune_codes(active["codeCommuneEtablissement"]),
            }
        )
        .dropna()
        .value_counts()
    )
    expected = targets.groupby(["typequ", "commune_code"])["expected_active"].sum()
    both = pd.concat([expected.rename("e"), simulated.rename("s")], axis=1).fillna(0.0)
    assert both.loc[both["e"] == 0, "s"].sum() == 0, "no establishment of a type where BPE counts none"
    for typequ, cells in both.groupby(level="typequ"):
        if cells["e"].sum() < 1000:
            continue
        dispersion = ((cells["s"] - cells["e"]) ** 2).sum() / cells["e"].sum()
        assert dispersion < 1.25, (typequ, dispersion)
        bound = cells["e"].std() / np.sqrt(cells["e"].var() + cells["e"].mean())
        assert np.corrcoef(cells["e"], cells["s"])[0, 1] > bound - 0.05, typequ
    by_commune = both.groupby(level="commune_code").sum()
    assert np.corrcoef(by_commune["e"], by_commune["s"])[0, 1] > 0.95


@pytest.mark.slow
def test_bpe_placement_survival_by_sector_is_within_3_points_of_insee(
    reference: Reference, bpe: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """BPE_SURVIVAL_EFFECTS is calibrated for the shipped BPE counts (expected survival within half a point),
    and a simulation at a tenth of France shows it within 3 points, as the population placement does."""
    table = expected_survival_by_sector(reference, BPE_PARAMS, competition=bpe[0], bpe_types=bpe[1])
    for sector, row in table.iterrows():
        assert row["s3"] == pytest.approx(PUBLISHED_SURVIVAL_3Y[str(sector)], abs=0.005), sector
        assert row["s5"] == pytest.approx(PUBLISHED_SURVIVAL_5Y[str(sector)], abs=0.005), sector
    params = BPE_PARAMS.model_copy(update={"scale": 0.1, "seed": 4})
    report = survival_calibration_report(simulate_sirene(reference, params, *bpe), reference)
    big = report[report["n"] >= 2000]
    assert len(big) >= 8, "both horizons, at least the main sectors"
    off = big[big["gap_points"].abs() > 3.0]
    assert off.empty, off.to_string()
