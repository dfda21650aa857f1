"""Point-in-time dataset for `apprenticeship_host`: one row per company existing at a cut-off date.

Features come from the company record and its contract history strictly before the cut-off; the label is
whether the company starts at least one new apprenticeship contract in the 12 months from the cut-off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

import numpy as np
import pandas as pd

from models.apprenticeship_host.history import HISTORY_FEATURES, history_features
from models.timeutils import NEVER, day_number, days_of, shift_years

COMPANY_FIELDS: tuple[str, ...] = (
    "siret",
    "naf_code",
    "commune_code",
    "creation_date",
    "legal_category",
    "headcount_band",
    "head_qualification",
)
SNAPSHOT_COLUMNS: tuple[str, ...] = (*COMPANY_FIELDS, "cutoff_date", *HISTORY_FEATURES)
"""What the model scores: a company as the chamber sees it at the cut-off (the model's input schema)."""

LABEL = "hosted_next_12m"


def build_host_dataset(companies: pd.DataFrame, contracts: pd.DataFrame, cutoff: date) -> pd.DataFrame:
    """Snapshot of every company open at `cutoff`, with its hosting history and its 12-month label.

    `companies` and `contracts` follow the `COMPANIES` and `APPRENTICESHIP_CONTRACTS` contracts. A company
    counts as open when created before the cut-off and not struck off before it. Contracts whose employer
    is not in `companies` are ignored.
    """
    cut = day_number(cutoff)
    creation = days_of(companies["creation_date"])
    closure = (
        days_of(companies["closure_date"]) if "closure_date" in companies else np.full(len(companies), NEVER)
    )
    open_mask = (creation < cut) & (closure >= cut)
    firms = companies.loc[open_mask, list(COMPANY_FIELDS)].reset_index(drop=True)

    position = pd.Index(firms["siret"]).get_indexer(contracts["siret"])
    known = position >= 0
    start = days_of(contracts["contract_start"])[known]
    hist = history_features(
        company_index=position[known],
        start_day=start,
        planned_end_day=days_of(contracts["planned_end"])[known],
        rupture_day=days_of(contracts["rupture_date"])[known],
        n_companies=len(firms),
        cutoff=cutoff,
    )
    horizon = day_number(shift_years(cutoff, 1))
    in_window = (start >= cut) & (start < horizon)
    new_contracts = np.bincount(position[known][in_window], minlength=len(firms))
    return firms.assign(
        cutoff_date=pd.Timestamp(cutoff),
        **hist,
        **{LABEL: (new_contracts > 0).astype(np.int8)},
    )


def build_host_datasets(
    companies: pd.DataFrame,
    contracts: pd.DataFrame,
    cutoffs: Iterable[date],
    on_cutoff: Callable[[date], None] | None = None,
) -> pd.DataFrame:
    """`build_host_dataset` for several cut-offs, stacked (one row per company-year)."""
    frames = []
    for cutoff in cutoffs:
        frames.append(build_host_dataset(companies, contracts, cutoff))
        if on_cutoff is not None:
            on_cutoff(cutoff)
    return pd.concat(frames, ignore_index=True)
