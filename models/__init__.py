"""Model code for the CMA predictive service: data contracts, simulators, features, estimators, cards.

Pure code: nothing here reads files or talks to MLflow (that is `pipelines/`' job). Saved models live in
the MLflow registry, not in this package.
"""
