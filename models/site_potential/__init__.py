"""Site potential (« Diag Flash »): territorial indicators and survival odds of an activity in a commune."""

SURVIVAL_HORIZONS: tuple[int, ...] = (3, 5)


def survival_model_name(horizon: int, suffix: str = "") -> str:
    """Registered name of the survival model of a horizon: `site_survival_3y`, or with the suffix of a model
    trained on one extract, `site_survival_3y_lyon4e` (the pipeline's `model_suffix`)."""
    return f"site_survival_{horizon}y{suffix}"


def survival_model_names(suffix: str = "") -> dict[int, str]:
    """Horizon -> registered name of the survival models a diagnostic uses."""
    return {horizon: survival_model_name(horizon, suffix) for horizon in SURVIVAL_HORIZONS}


SURVIVAL_MODELS: dict[int, str] = survival_model_names()
