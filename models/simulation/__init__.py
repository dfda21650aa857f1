"""Simulators of the chambers' private records, calibrated on published figures (synthetic data)."""
