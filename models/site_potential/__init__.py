"""Site potential (« Diag Flash »): territorial indicators and survival odds of an activity in a commune."""

SURVIVAL_MODELS: dict[int, str] = {3: "site_survival_3y", 5: "site_survival_5y"}
