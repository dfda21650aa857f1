"""Load the reference open data shipped in `data_samples/reference/` (I/O edge)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from models.reference import Reference, reference_from_frames

DATA_SAMPLES = Path(__file__).resolve().parent.parent / "data_samples"
REFERENCE_DIR = DATA_SAMPLES / "reference"


@lru_cache(maxsize=4)
def load_reference(directory: Path = REFERENCE_DIR) -> Reference:
    """COG 2026 communes and NAF rev.2 sub-classes (with the décret 98-247 artisan flag)."""
    communes = pd.read_csv(directory / "communes_cog2026.csv.gz", dtype=str, keep_default_na=False)
    naf = pd.read_csv(directory / "naf_rev2_sous_classes.csv", dtype=str, keep_default_na=False)
    return reference_from_frames(communes, naf)
