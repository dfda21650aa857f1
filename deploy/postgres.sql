-- One PostgreSQL for the deployment: a database for MLflow's registry and runs, one for the service's state.
-- psql -U postgres -f deploy/postgres.sql   (then set the passwords: \password mlflow, \password cma)
-- pg_hba.conf: allow the MLflow server's machine for `mlflow`, the service machines for `cma` (scram-sha-256).
CREATE ROLE mlflow LOGIN;
CREATE DATABASE mlflow OWNER mlflow;
CREATE ROLE cma LOGIN;
CREATE DATABASE cma_state OWNER cma;
-- The tables are created by their owners: MLflow at its server's first start (and `mlflow db upgrade` after
-- an MLflow upgrade), the service's by its migrations when a process starts.
