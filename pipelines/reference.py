"""The reference data's reader now lives in the catalog (`catalog.reference`); these names stay for the
modules and tests that import them from here."""

from catalog.reference import DATA_SAMPLES, REFERENCE_DIR, load_reference

__all__ = ["DATA_SAMPLES", "REFERENCE_DIR", "load_reference"]
