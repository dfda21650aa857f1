"""Point-in-time hosting history of a company: the one definition used by the simulator and the builder.

Every quantity is computed from contract facts dated strictly before the cut-off: contracts started before
it, ruptures that happened before it. Nothing dated on or after the cut-off can change a value.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from models.timeutils import day_number, shift_years

HISTORY_FEATURES: tuple[str, ...] = (
    "contracts_last_12m",
    "contracts_last_3y",
    "contracts_total",
    "active_contracts",
    "ruptures_last_3y",
    "years_since_last_contract",
)
HISTORY_DESCRIPTIONS: dict[str, str] = {
    "contracts_last_12m": "Contrats d'apprentissage commencés dans les 12 mois avant la date de calcul",
    "contracts_last_3y": "Contrats commencés dans les 3 ans avant la date de calcul",
    "contracts_total": "Contrats commencés avant la date de calcul (tout l'historique de la chambre)",
    "active_contracts": "Apprentis sous contrat à la date de calcul (contrat commencé, ni terminé ni rompu)",
    "ruptures_last_3y": "Ruptures de contrat survenues dans les 3 ans avant la date de calcul",
    "years_since_last_contract": "Années depuis le dernier contrat commencé (vide si aucun)",
}


def history_features(
    company_index: np.ndarray,
    start_day: np.ndarray,
    planned_end_day: np.ndarray,
    rupture_day: np.ndarray,
    n_companies: int,
    cutoff: date,
) -> dict[str, np.ndarray]:
    """Hosting history of `n_companies` companies as of `cutoff`.

    Contracts are given as parallel arrays: the row index of the employer in the company table, the day
    numbers of start, planned end and rupture (`models.timeutils.NEVER` when not broken).
    """
    cut = day_number(cutoff)
    one_year = day_number(shift_years(cutoff, -1))
    three_years = day_number(shift_years(cutoff, -3))
    started = start_day < cut
    idx = company_index[started]
    starts = start_day[started]

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(idx[mask], minlength=n_companies).astype(np.int64)

    total = np.bincount(idx, minlength=n_companies).astype(np.int64)
    last_12m = count(starts >= one_year)
    last_3y = count(starts >= three_years)
    running = (planned_end_day[started] >= cut) & (rupture_day[started] >= cut)
    active = count(running)
    broken = (rupture_day >= three_years) & (rupture_day < cut)
    ruptures = np.bincount(company_index[broken], minlength=n_companies).astype(np.int64)
    last_start = np.full(n_companies, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_start, idx, starts)
    years_since = np.where(total > 0, (cut - last_start) / 365.25, np.nan)
    return {
        "contracts_last_12m": last_12m,
        "contracts_last_3y": last_3y,
        "contracts_total": total,
        "active_contracts": active,
        "ruptures_last_3y": ruptures,
        "years_since_last_contract": years_since,
    }
