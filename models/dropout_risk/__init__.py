"""The `dropout_risk` model (CMA PACA): which apprenticeship contracts risk being broken, scored N weeks in."""

MODEL_NAME = "dropout_risk"
