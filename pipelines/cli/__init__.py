"""`cma-predict`: the command line of the CMA predictive service, one module per job.

- `data`: simulate, simulator-report, build-dataset;
- `importing`: import (the national formats: SIFA, ERP v3, DECA, RNE, SIRENE);
- `train`: train, train-extract, evaluate, run (the same for every model family);
- `site`: ingest-sirene, ingest-bpe, train-site, diagnose;
- `score`: score (a chamber's files scored in batches by a registered model, or on Spark);
- `monitor`: monitor (the monitoring report, logged to MLflow), outcomes (what happened after the scores);
- the service's own commands (`keys`, `serve`) live with the service (`service/cli.py`), mounted here.
"""

from __future__ import annotations

from pipelines.cli import data, importing, monitor, score, site, train
from pipelines.cli.common import app
from service.cli import keys_app, serve

app.add_typer(keys_app, name="keys")
app.command()(serve)

__all__ = ["app", "data", "importing", "main", "monitor", "score", "site", "train"]


def main() -> None:
    """Entry point for `python -m pipelines` and `cma-predict`."""
    app(prog_name="cma-predict")
