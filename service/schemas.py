"""The schemas every scoring route shares (envelope, errors, metadata); each model's record and result
schemas are derived from its own contract in `service.model_schemas`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import annotated_types
import orjson
import pyarrow as pa
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)


@dataclass(frozen=True)
class RecordColumns:
    """A batch given as one list of values per field, all of one length (pandas `to_dict("list")`): lighter
    than a list of objects for large batches. A null stands for a value not given (the field's default)."""

    values: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(next(iter(self.values.values())))

    def record(self, index: int) -> dict[str, Any]:
        """The record at `index`, as an object without its null values."""
        return {name: column[index] for name, column in self.values.items() if column[index] is not None}


class ScoresRequest(BaseModel):
    """A batch given either as a list of records or as a table (exactly one of the two).

    Records are validated one by one after this envelope: invalid ones are reported by index, the others
    scored.
    """

    model_config = ConfigDict(extra="forbid")
    records_field: ClassVar[str] = "records"
    related_fields: ClassVar[tuple[str, ...]] = ()  # tables the model reads next to the records
    example: ClassVar[dict[str, Any]] = {}  # one example request (OpenAPI)

    columns: dict[str, Any] | None = Field(
        default=None,
        description="The same records as one list of values per field (all of one length, 1 to 10,000; "
        "null = not given)",
        examples=[{"siret": ["73282932000074"], "naf_code": ["43.22A"]}],
    )
    explain: bool = Field(default=True, description="Add the 3 main reasons (slower on large batches)")

    @model_validator(mode="after")
    def _one_form(self) -> ScoresRequest:
        if (getattr(self, self.records_field) is None) == (self.columns is None):
            raise ValueError(f"give either `{self.records_field}` or `columns`")
        if self.columns is not None:
            lengths = {len(v) if isinstance(v, list) else -1 for v in self.columns.values()}
            if not self.columns or len(lengths) != 1 or not 1 <= lengths.pop() <= 10_000:
                raise ValueError("`columns` must hold lists of one length, 1 to 10,000 values")
        return self

    @classmethod
    def max_records(cls) -> int:
        """The most records one request may hold (the records field's `max_length`)."""
        metadata = cls.model_fields[cls.records_field].metadata
        return int(next(item.max_length for item in metadata if isinstance(item, annotated_types.MaxLen)))

    def batch(self) -> list[Any] | RecordColumns:
        """The records, in whichever form they came."""
        records: list[Any] | None = getattr(self, self.records_field)
        return records if records is not None else RecordColumns(self.columns or {})


class RecordError(BaseModel):
    """Why one record of a batch was not scored (never its values); a row of a CSV body also says its line
    as a spreadsheet numbers it (the header is line 1)."""

    index: int
    field: str
    reason: str
    line: int | None = Field(default=None, description="Line of a CSV body (header = line 1)")

    @model_serializer(mode="wrap")
    def _without_empty_line(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        if dumped.get("line") is None:
            dumped.pop("line", None)
        return dumped


@dataclass
class CsvRows:
    """The data rows of a CSV body: those read into `table` (all texts), at their `positions` among every
    data row, and the errors of the rows that could not be read (a line with more or fewer fields than the
    header names), quarantined so that the other rows are still scored."""

    table: pa.Table
    positions: list[int]
    errors: list[RecordError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.positions) + len(self.errors)


class ScoresMeta(BaseModel):
    """Which model answered."""

    model: str
    version: str
    scored: int
    rejected: int


class ScoresResponse(ScoresMeta):
    """Scores of the valid records (their fields: the model's own, see `/v1/models`), errors of the others."""

    results: list[dict[str, Any]]
    errors: list[RecordError]


class DiagnosticRequest(BaseModel):
    """A business project: an activity and a commune."""

    naf_code: str = Field(min_length=2, max_length=80, examples=["96.02A"])
    commune_code: str = Field(min_length=2, max_length=80, examples=["69384"])


class ModelInfo(BaseModel):
    """A served model."""

    name: str
    version: str | None
    loaded_at: str | None
    metrics: dict[str, float]
    model_card: str
    error: str | None = None


class ErrorBody(BaseModel):
    """The one error contract: a status, a message, and per-field details without submitted values."""

    status: int
    message: str
    details: list[dict[str, Any]] = []


Body = TypeVar("Body", bound=BaseModel)


def json_invalid() -> RequestValidationError:
    """The error of a body that is not JSON, as FastAPI words its own."""
    return RequestValidationError([{"loc": ("body",), "msg": "JSON invalide", "type": "json_invalid"}])


def parse_body(raw: bytes, schema: type[Body]) -> Body:
    """A JSON body read with orjson into `schema`, by a route that reads its body after its key was checked
    (a declared body parameter would be parsed before). Errors as FastAPI's own body errors: location under
    `body`, never the submitted value."""
    try:
        return schema.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError as err:
        raise json_invalid() from err
    except ValidationError as err:
        problems = err.errors(include_input=False, include_url=False)
        raise RequestValidationError([{**p, "loc": ("body", *p["loc"])} for p in problems]) from err
