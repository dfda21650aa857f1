"""The FastAPI scoring service (loads champions from the MLflow registry; never imports `pipelines`)."""
