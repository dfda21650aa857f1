"""The indicators of the flash diagnostic on hand-made stores: a SIRENE store covering France, one covering a
single commune (its neighbours, département and France are not presented as its own figures), and BPE
competition counts."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.reference import Reference
from models.site_potential.indicators import INDICATORS, SiteStore, indicators_for
from models.site_potential.sectors import PUBLISHED_SURVIVAL_5Y
from models.site_potential.territory import Territory, build_territory


@pytest.fixture(scope="module")
def territory(reference: Reference) -> Territory:
    return build_territory(reference, None)


def _survival() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "naf_code": ["96.02A"],
            "departement_code": ["69"],
            "cohort_3y": [100],
            "survived_3y": [70],
            "cohort_5y": [50],
            "survived_5y": [30],
        }
    )


def _hairdressers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "naf_code": ["96.02A", "96.02A"],
            "commune_code": ["69384", "69381"],
            "active": [10, 30],
            "created_12m": [2, 3],
            "closed_12m": [1, 0],
            "active_before": [8, 30],
        }
    )


def _everywhere(territory: Territory) -> pd.DataFrame:
    """One bakery in every commune: the store covers France."""
    codes = territory.codes
    return pd.DataFrame(
        {
            "naf_code": "10.71C",
            "commune_code": codes,
            "active": 1,
            "created_12m": 0,
            "closed_12m": 0,
            "active_before": 1,
        }
    )


def _by_key(store: SiteStore, naf: str, commune: str, section: str = "S") -> dict:  # type: ignore[type-arg]
    return {i.key: i for i in indicators_for(store, naf, commune, naf_section=section)}


def test_a_store_covering_france_gives_its_own_references(territory: Territory) -> None:
    counts = pd.concat([_hairdressers(), _everywhere(territory)], ignore_index=True)
    store = SiteStore(territory, counts, _survival(), date(2025, 1, 1))
    assert store.coverage.national
    values = _by_key(store, "96.02A", "69384")
    assert len(values) == len(INDICATORS) == 14
    pop = float(territory.communes.loc["69384", "population"])
    assert values["competitors"].value == 10
    assert values["competitors_per_10k"].value == pytest.approx(10 / pop * 10_000, abs=1e-3)
    catch = float(territory.communes.loc["69384", "catchment_20km"])
    assert values["competitors_per_10k_20km"].value == pytest.approx(40 / catch * 10_000, abs=1e-3)
    assert values["competitors_change"].value == pytest.approx((40 - 38) / 38 * 100, abs=1e-3)
    assert values["creation_rate"].value == pytest.approx(5 / 40 * 100, abs=1e-3)
    assert values["survival_3y_observed"].value == pytest.approx(70.0)
    assert values["survival_5y_observed"].national_value == pytest.approx(60.0)
    assert values["survival_5y_observed"].reference_source is None
    assert values["competitors_per_10k"].national_value == pytest.approx(
        40 / territory.communes["population"].sum() * 10_000, abs=1e-3
    )
    for ind in values.values():
        assert ind.definition and ind.source and ind.date and ind.reference
        assert ind.note is None
    assert "SIRENE" in values["competitors"].source and "01/01/2025" in values["competitors"].source


def test_a_one_commune_store_does_not_present_its_figures_as_departement_or_france(
    territory: Territory,
) -> None:
    counts = _hairdressers().iloc[:1]
    store = SiteStore(territory, counts, _survival(), date(2025, 1, 1))
    coverage = store.coverage
    assert not coverage.national and coverage.departements == frozenset()
    assert coverage.communes_with_establishments == 1
    values = _by_key(store, "96.02A", "69384")
    assert values["competitors"].value == 10, "the commune's own count is a real figure"
    for key in ("competitors", "competitors_per_10k", "competitors_per_10k_20km", "creation_rate"):
        assert values[key].departement_value is None, key
        assert values[key].national_value is None, key
        assert values[key].note and "1 commune" in values[key].note
    assert values["competitors_per_10k_20km"].value is None, "neighbours not in the file are not zeros"
    five = values["survival_5y_observed"]
    assert five.value is None and five.departement_value is None
    assert five.national_value == pytest.approx(PUBLISHED_SURVIVAL_5Y["Autres activités de services"] * 100)
    assert five.reference_source and "INSEE" in five.reference_source
    # the census rows are national data whatever the store covers
    assert values["population"].national_value == pytest.approx(
        float(territory.communes["population"].median())
    )
    assert "commune médiane" in values["population"].reference


def test_bpe_counts_give_the_competition_of_the_activities_they_cover(territory: Territory) -> None:
    competition = pd.DataFrame(
        {
            "year": [2009, 2013, 2013, 2009],
            "commune_code": ["33063", "33063", "33039", "33039"],
            "typequ": ["A501", "A501", "A501", "A501"],
            "count": [362.0, 388.0, 20.0, 18.0],
        }
    )
    types = pd.DataFrame({"naf_code": ["96.02A"], "typequ": ["A501"], "bpe_label": ["Coiffure"]})
    # a SIRENE store of one commune elsewhere: BPE still covers France
    store = SiteStore(
        territory,
        _hairdressers().iloc[:1],
        _survival(),
        date(2025, 1, 1),
        competition=competition,
        bpe_types=types,
    )
    values = _by_key(store, "96.02A", "33063")
    pop = float(territory.communes.loc["33063", "population"])
    assert values["competitors"].value == 388
    assert values["competitors"].source == "INSEE, BPE 2013" and values["competitors"].date == "2013"
    assert values["competitors_per_10k"].value == pytest.approx(388 / pop * 10_000, abs=1e-3)
    assert "Coiffure" in values["competitors"].definition
    near = territory.within[20][territory.position("33063")]
    both = set(territory.codes[near.indices]) >= {"33063", "33039"}
    assert both, "Bègles lies within 20 km of Bordeaux"
    assert values["competitors_change"].value == pytest.approx((408 - 380) / 380 * 100, abs=1e-3)
    assert "2009" in values["competitors_change"].source
    assert values["competitors"].national_value == 0.0, "the median French commune has no hairdresser"
    assert values["competitors_per_10k"].national_value == pytest.approx(
        408 / territory.communes["population"].sum() * 10_000, abs=1e-3
    )
    assert values["competitors"].note is None
    # BPE does not count creations: those stay SIRENE's, unavailable here
    assert values["creation_rate"].value is None and values["creation_rate"].note
    # an activity BPE does not cover keeps the SIRENE store
    other = _by_key(store, "10.71C", "33063", section="C")
    assert "SIRENE" in other["competitors"].source
    assert other["competitors"].value is None, "Bordeaux is not in this one-commune SIRENE file"
    densities = store.table("96.02A")[0]["competitors_per_10k"]
    assert np.isfinite(densities).all(), "every commune is shaded from BPE, zeros included"
