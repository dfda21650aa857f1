"""The jobs of the CMA predictive service (ingest, simulate, build, train, evaluate, register) and the CLI."""
