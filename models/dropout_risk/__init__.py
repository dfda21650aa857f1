"""The `dropout_risk` model (CMA PACA): which apprenticeship contracts risk a rupture, scored N weeks in."""

MODEL_NAME = "dropout_risk"
