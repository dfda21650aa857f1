"""`python -m pipelines` runs the `cma-predict` command line."""

from pipelines.cli import main

main()
