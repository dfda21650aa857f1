"""Batch scoring on Spark: any registered model through `mlflow.pyfunc.spark_udf`, local or on a cluster.

The same job as the local batch engine (`cma-predict score --engine spark`): read CSV or Parquet inputs (files
or directories of part files), cast the columns to the model's input signature, score with the model's own
pyfunc (`score`, as the API), and write the key columns, the probability, the model's outputs (reasons on
request), the model name and version, as Parquet (a directory of parts) or CSV (one file).

Pitfalls this module guards against (mlflow 3.17, pyspark 4.3):
- a `result_type` that disagrees with the model's output (e.g. `probability int`) silently gives 0 on every
  row: the struct is derived from the output signature (`spark_result_type`) and a hand-given one is checked
  against it (`check_result_type`);
- `Schema.as_spark_schema()` fails on array columns: a small converter of our own;
- `env_manager` is passed explicitly (`local`: this environment, which the model was logged from);
- the Python workers run `PYSPARK_PYTHON`, which must be set in the environment before the session starts
  (the `spark.pyspark.python` conf is ignored for an in-process session).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.types import Schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

REASONS = "reasons"
MODEL_NAME = "model"  # the local engine's column names (`pipelines/batch.py`)
MODEL_VERSION = "version"


class SparkScoringError(ValueError):
    """A Spark scoring job that cannot run as asked (inputs, columns, result type)."""


@dataclass(frozen=True)
class SparkScoreReport:
    """What a Spark scoring job did."""

    rows_scored: int
    seconds: float
    out: Path
    model_name: str
    model_version: str


def _spark_type(mlflow_type: Any) -> DataType:
    """The Spark type of an MLflow column type (scalars and arrays of them)."""
    from mlflow.types.schema import Array
    from mlflow.types.schema import DataType as MlflowDataType
    from pyspark.sql.types import ArrayType

    if isinstance(mlflow_type, Array):
        return ArrayType(_spark_type(mlflow_type.dtype))
    if isinstance(mlflow_type, MlflowDataType):
        return mlflow_type.to_spark()
    raise SparkScoringError(f"no Spark type for the signature type {mlflow_type!r}")


def _struct(schema: Schema) -> StructType:
    from pyspark.sql.types import StructField, StructType

    fields = []
    for col in schema.inputs:
        if col.name is None:
            raise SparkScoringError("the model's signature has an unnamed column")
        fields.append(StructField(col.name, _spark_type(col.type), nullable=True))
    return StructType(fields)


def _signature_schemas(model_uri: str) -> tuple[Schema, Schema]:
    from mlflow.models import get_model_info

    signature = get_model_info(model_uri).signature
    inputs = signature.inputs if signature is not None else None
    outputs = signature.outputs if signature is not None else None
    if not isinstance(inputs, Schema) or not isinstance(outputs, Schema):
        raise SparkScoringError(f"{model_uri} has no input or output signature: log it with a signature")
    return inputs, outputs


def spark_result_type(model_uri: str) -> StructType:
    """The Spark struct of the model's outputs, field by field from its output signature."""
    return _struct(_signature_schemas(model_uri)[1])


def check_result_type(given: StructType | str, expected: StructType) -> StructType:
    """`given` (a struct or its DDL string) if it is `expected`, field for field (names, order and types);
    else a `SparkScoringError` naming the differences (a wrong numeric type would silently score 0)."""
    from pyspark.sql.types import StructType as SparkStruct
    from pyspark.sql.types import _parse_datatype_string

    parsed = _parse_datatype_string(given) if isinstance(given, str) else given
    if not isinstance(parsed, SparkStruct):
        raise SparkScoringError(f"result type {given!r} is not a struct: expected {expected.simpleString()}")
    got = [(f.name, f.dataType) for f in parsed.fields]
    want = [(f.name, f.dataType) for f in expected.fields]
    if got != want:
        wanted = dict(want)
        diffs = [
            f"{name}: {dtype.simpleString()} instead of {wanted[name].simpleString()}"
            if name in wanted
            else f"{name}: not an output of the model"
            for name, dtype in got
            if wanted.get(name) != dtype
        ]
        diffs += [f"{name}: missing" for name, _ in want if name not in dict(got)]
        if not diffs:
            diffs = ["fields out of order"]
        raise SparkScoringError(
            f"result type {parsed.simpleString()} disagrees with the model's output signature "
            f"{expected.simpleString()} ({'; '.join(diffs)})"
        )
    return parsed


def spark_session(master: str = "local[2]", app_name: str = "cma-predict-score") -> SparkSession:
    """A Spark session whose Python workers run this interpreter (set before the session starts)."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder: Any = SparkSession.builder
    return (
        builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", os.environ.get("CMA_SPARK_DRIVER_MEMORY", "2g"))
        .getOrCreate()
    )


def _model_identity(model_uri: str) -> tuple[str, str]:
    """(registered name, version) of a `models:/NAME/VERSION` or `models:/NAME@ALIAS` URI; for any other
    URI, its last path segment and an empty version."""
    if model_uri.startswith("models:/"):
        from mlflow import MlflowClient

        ref = model_uri.removeprefix("models:/").strip("/")
        client = MlflowClient()
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return name, str(client.get_model_version_by_alias(name, alias).version)
        name, _, version = ref.partition("/")
        if version.isdigit():
            return name, version
        latest = client.get_latest_versions(name, stages=[version] if version else None)
        if not latest:
            raise SparkScoringError(f"{model_uri}: no such model version")
        return name, str(latest[0].version)
    return Path(model_uri.rstrip("/")).name, ""


def _is_csv(path: Path) -> bool:
    if path.is_dir():
        return any(p.suffix.lower() == ".csv" for p in path.iterdir()) and not any(
            p.suffix.lower() == ".parquet" for p in path.iterdir()
        )
    return path.suffix.lower() == ".csv"


def read_inputs(spark: SparkSession, inputs: list[Path]) -> DataFrame:
    """The rows of CSV and Parquet files or directories of parts, as one frame (CSV columns as strings)."""
    if not inputs:
        raise SparkScoringError("no input given")
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise SparkScoringError(f"input not found: {', '.join(missing)}")
    sheets = [str(p) for p in inputs if p.suffix.lower() in (".xlsx", ".xls")]
    if sheets:
        raise SparkScoringError(
            f"{', '.join(sheets)}: Spark reads CSV and Parquet only (use --engine local for a workbook)"
        )
    is_csv = {p: _is_csv(p) for p in inputs}
    csv = [str(p) for p in inputs if is_csv[p]]
    parquet = [str(p) for p in inputs if not is_csv[p]]
    frames = []
    if csv:
        frames.append(spark.read.csv(csv, header=True, inferSchema=False, multiLine=True, escape='"'))
    if parquet:
        frames.append(spark.read.parquet(*parquet))
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other, allowMissingColumns=True)
    return frame


def cast_to_signature(frame: DataFrame, inputs: Schema) -> DataFrame:
    """`frame` with the signature's columns cast to its types (absent optional ones as nulls); a clear error
    when a required column is absent."""
    from pyspark.sql import functions as F

    present = set(frame.columns)
    absent = [c.name for c in inputs.inputs if c.name not in present and c.required]
    if absent:
        raise SparkScoringError(f"missing input column(s) {', '.join(map(repr, absent))}")
    for col in inputs.inputs:
        assert col.name is not None
        target = _spark_type(col.type)
        value = F.col(col.name) if col.name in present else F.lit(None)
        frame = frame.withColumn(col.name, value.cast(target))
    return frame


def _write(frame: DataFrame, out: Path) -> int:
    """Write `frame` as Parquet (a directory of parts) or, for a `.csv` out, as one CSV file (arrays joined
    with ' | '); the number of rows written."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    if out.suffix.lower() != ".csv":
        frame.write.mode("overwrite").parquet(str(out))
        return frame.sparkSession.read.parquet(str(out)).count()
    for field in frame.schema.fields:
        if isinstance(field.dataType, ArrayType):
            frame = frame.withColumn(field.name, F.concat_ws(" | ", F.col(field.name)))
    parts = out.with_name(out.name + ".parts")
    frame.write.mode("overwrite").csv(str(parts), header=False, escape='"')
    lines = 0
    with out.open("wb") as target:
        target.write((",".join(frame.columns) + "\n").encode())
        for part in sorted(parts.glob("part-*")):
            with part.open("rb") as source:
                for line in source:
                    target.write(line)
                    lines += 1
    shutil.rmtree(parts)
    return (
        frame.sparkSession.read.csv(str(out), header=True, multiLine=True, escape='"').count() if lines else 0
    )


def score_spark(
    model_uri: str,
    inputs: list[Path],
    out: Path,
    *,
    key_columns: list[str],
    reasons: bool,
    master: str = "local[2]",
    result_type: StructType | str | None = None,
) -> SparkScoreReport:
    """Score `inputs` with the model at `model_uri` through `mlflow.pyfunc.spark_udf` and write `out`.

    The session is `master`'s (or the active one, which is then left running); the UDF's struct is the
    output signature's (a given `result_type` is checked against it), without `reasons` unless asked.
    """
    import mlflow
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    start = time.perf_counter()
    input_schema, output_schema = _signature_schemas(model_uri)
    derived = _struct(output_schema)
    struct = derived if result_type is None else check_result_type(result_type, derived)
    if not reasons:
        struct = StructType([f for f in struct.fields if f.name != REASONS])
    name, version = _model_identity(model_uri)
    clashes = [c for c in key_columns if c in struct.fieldNames() or c in (MODEL_NAME, MODEL_VERSION)]
    if clashes:
        raise SparkScoringError(
            f"key column(s) {', '.join(map(repr, clashes))} clash with the model's outputs"
        )

    owned = SparkSession.getActiveSession() is None
    spark = spark_session(master)
    try:
        frame = read_inputs(spark, inputs)
        absent = [c for c in key_columns if c not in frame.columns]
        if absent:
            raise SparkScoringError(
                f"key column(s) {', '.join(map(repr, absent))} not in the input (Spark does not number the "
                "lines of its inputs: give an identifier column, or use --engine local)"
            )
        keys = [F.col(c).alias(f"__key_{i}") for i, c in enumerate(key_columns)]
        frame = cast_to_signature(frame.select("*", *keys), input_schema)
        udf = mlflow.pyfunc.spark_udf(
            spark, model_uri, result_type=struct, env_manager="local", params={"explain": reasons}
        )
        features = [F.col(c.name) for c in input_schema.inputs if c.name is not None]
        scored = frame.withColumn("__scores", udf(F.struct(*features)))
        result = scored.select(
            *(F.col(f"__key_{i}").alias(c) for i, c in enumerate(key_columns)),
            *(F.col(f"__scores.{f.name}").alias(f.name) for f in struct.fields),
            F.lit(name).alias(MODEL_NAME),
            F.lit(version).alias(MODEL_VERSION),
        )
        rows = _write(result, out)
    finally:
        if owned:
            spark.stop()
    return SparkScoreReport(
        rows_scored=rows,
        seconds=time.perf_counter() - start,
        out=out,
        model_name=name,
        model_version=version,
    )
