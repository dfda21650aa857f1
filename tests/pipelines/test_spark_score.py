"""Batch scoring on Spark `local[2]` (`pipelines.spark`): the same scores as the model's own `score`, the
UDF's struct derived from the output signature, a wrong hand-written one refused."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime (java not on PATH)"),
]

pyspark = pytest.importorskip("pyspark", reason="the spark extra (pyspark) is not installed")

from pipelines.spark import (  # noqa: E402
    SparkScoringError,
    check_result_type,
    score_spark,
    spark_result_type,
    spark_session,
)

ROWS = 2_000


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def host_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pd.DataFrame]]:
    """A small apprenticeship_host model registered in a store of this module, and its last cut-off's rows."""
    import mlflow

    from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS
    from pipelines.runner import load_family_config, train_model
    from pipelines.tracking import configure_tracking

    home = tmp_path_factory.mktemp("spark") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CMA_PREDICT_HOME", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        configure_tracking(home)
        config = load_family_config(
            "apprenticeship_host",
            overrides=["simulation.n_companies=2000", "lightgbm.min_data_in_leaf=20"],
        )
        rows, results = train_model("apprenticeship_host", config, home / "quarantine")
        last = rows[rows["cutoff_date"] == rows["cutoff_date"].max()]
        snapshots = pd.concat([last] * (ROWS // len(last) + 1)).head(ROWS)[list(SNAPSHOT_COLUMNS)]
        yield f"models:/{results[0].name}/{results[0].decision.version}", snapshots.reset_index(drop=True)
        if mlflow.active_run() is not None:
            mlflow.end_run()


def _local(model_uri: str, rows: pd.DataFrame, explain: bool) -> pd.DataFrame:
    import mlflow

    return mlflow.pyfunc.load_model(model_uri).predict(rows, params={"explain": explain})


def test_spark_scores_equal_the_local_score(
    spark: Any, host_model: tuple[str, pd.DataFrame], tmp_path: Path
) -> None:
    uri, rows = host_model
    source = tmp_path / "in.parquet"
    rows.assign(row_id=range(len(rows))).to_parquet(source)
    out = tmp_path / "scores.parquet"
    report = score_spark(uri, [source], out, key_columns=["row_id", "siret"], reasons=True)
    assert report.rows_scored == ROWS and report.out == out
    assert (report.model_name, report.model_version) == ("apprenticeship_host", uri.rsplit("/", 1)[1])
    scored = pd.read_parquet(out).sort_values("row_id").reset_index(drop=True)
    assert list(scored.columns) == [
        *("row_id", "siret", "probability", "percentile", "reasons", "model", "version")
    ]
    local = _local(uri, rows, explain=False)
    explained = _local(uri, rows.head(50), explain=True)
    assert (scored["probability"] > 0).all(), "a mismatched struct would give 0"
    np.testing.assert_allclose(scored["probability"], local["probability"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(scored["percentile"], local["percentile"], rtol=0, atol=1e-9)
    assert [list(r) for r in scored["reasons"].head(50)] == [list(r) for r in explained["reasons"]]
    assert (scored["siret"] == rows["siret"]).all()
    assert set(scored["model"]) == {"apprenticeship_host"}


def test_csv_in_and_out_without_reasons(
    spark: Any, host_model: tuple[str, pd.DataFrame], tmp_path: Path
) -> None:
    uri, rows = host_model
    sample = rows.head(500)
    source = tmp_path / "in.csv"
    sample.to_csv(source, index=False, date_format="%Y-%m-%d")
    out = tmp_path / "scores.csv"
    report = score_spark(uri, [source], out, key_columns=["siret"], reasons=False)
    assert report.rows_scored == len(sample)
    scored = pd.read_csv(out, dtype={"siret": str})
    assert list(scored.columns) == ["siret", "probability", "percentile", "model", "version"]
    expected = _local(uri, sample, explain=False).set_index(sample["siret"].astype(str))
    expected = expected[~expected.index.duplicated()]
    got = scored.drop_duplicates("siret").set_index("siret")
    np.testing.assert_allclose(got["probability"], expected.loc[got.index, "probability"], rtol=0, atol=1e-9)


def test_result_type_is_the_signatures_and_a_wrong_one_is_refused(
    spark: Any, host_model: tuple[str, pd.DataFrame], tmp_path: Path
) -> None:
    from mlflow.models import get_model_info
    from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField, StructType

    uri, _ = host_model
    derived = spark_result_type(uri)
    expected = StructType(
        [
            StructField("probability", DoubleType(), True),
            StructField("percentile", DoubleType(), True),
            StructField("reasons", ArrayType(StringType()), True),
        ]
    )
    assert derived == expected
    signature = get_model_info(uri).signature
    assert signature is not None and signature.outputs is not None
    assert derived.fieldNames() == signature.outputs.input_names()
    assert check_result_type(derived.simpleString(), derived) == derived
    with pytest.raises(SparkScoringError, match="probability: int instead of double"):
        check_result_type("probability int, percentile double, reasons array<string>", derived)
    with pytest.raises(SparkScoringError, match="prob: not an output"):
        check_result_type("prob double, percentile double, reasons array<string>", derived)
    with pytest.raises(SparkScoringError, match="disagrees"):
        score_spark(
            uri,
            [tmp_path / "unused.parquet"],
            tmp_path / "out.parquet",
            key_columns=["siret"],
            reasons=True,
            result_type="probability int, percentile double, reasons array<string>",
        )


def test_missing_input_column_is_named(
    spark: Any, host_model: tuple[str, pd.DataFrame], tmp_path: Path
) -> None:
    uri, rows = host_model
    source = tmp_path / "in.parquet"
    rows.head(10).drop(columns=["naf_code"]).to_parquet(source)
    with pytest.raises(SparkScoringError, match=r"missing input column.*'naf_code'"):
        score_spark(uri, [source], tmp_path / "out.parquet", key_columns=["siret"], reasons=False)


def test_struct_of_a_dropout_like_signature() -> None:
    """The converter on the other families' output shapes (strings, arrays), without a Spark job."""
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import Array
    from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField, StructType

    from pipelines.spark import _struct

    schema = Schema(
        [
            ColSpec(DataType.double, "probability"),
            ColSpec(DataType.string, "risk_band"),
            ColSpec(Array(DataType.string), "ppr_actions"),
            ColSpec(Array(DataType.string), "reasons", required=False),
        ]
    )
    assert _struct(schema) == StructType(
        [
            StructField("probability", DoubleType(), True),
            StructField("risk_band", StringType(), True),
            StructField("ppr_actions", ArrayType(StringType()), True),
            StructField("reasons", ArrayType(StringType()), True),
        ]
    )


def test_absent_key_column_and_workbook_are_refused(
    spark: Any, host_model: tuple[str, pd.DataFrame], tmp_path: Path
) -> None:
    uri, rows = host_model
    source = tmp_path / "in.parquet"
    rows.head(10).to_parquet(source)
    with pytest.raises(SparkScoringError, match=r"key column.*'line' not in the input"):
        score_spark(uri, [source], tmp_path / "out.parquet", key_columns=["line"], reasons=False)
    book = tmp_path / "in.xlsx"
    book.write_bytes(b"")
    with pytest.raises(SparkScoringError, match="CSV and Parquet only"):
        score_spark(uri, [book], tmp_path / "out.parquet", key_columns=["siret"], reasons=False)
