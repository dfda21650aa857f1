"""Request and response schemas derived from a served model's own contract (`models.interface`): the record
schema of its input fields, the envelope of a scoring request, the shape of one result.

Built once per model version (`SchemaSet.of`), so a model retrained on a centre's extract, with columns no
one here wrote, is served with a schema of its own and no code change.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from models.interface import InputContract, InputField, OutputField, ScoringModel
from service.schemas import RecordError, ScoresMeta, ScoresRequest

_TYPES: dict[str, type] = {"text": str, "date": date, "int": int, "float": float}
_FRENCH_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")


class StrictRecord(BaseModel):
    """A record of a model whose contract is strict: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LenientRecord(BaseModel):
    """A row of a centre's extract, read as the extract is written: column names without stray spaces,
    columns the model does not read ignored (never kept), decimal commas, categories coded as numbers."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    kinds: ClassVar[dict[str, str]] = {}  # column name -> field kind

    @model_validator(mode="before")
    @classmethod
    def _as_written(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = str(key).strip().lstrip("\ufeff").strip()
            kind = cls.kinds.get(name)
            if kind is not None:
                out[name] = _lenient_value(kind, value)
        return out


def _lenient_value(kind: str, value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
        if kind == "float":
            return value.replace(",", ".", 1) if value.count(",") == 1 and "." not in value else value
        if kind == "date" and (french := _FRENCH_DATE.fullmatch(value)) is not None:
            day, month, year = french.groups()
            return f"{year}-{int(month):02d}-{int(day):02d}"
        return value
    if kind == "text" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


def _python_name(field: InputField, position: int) -> str | None:
    """A Python name for the field when its own is not one (None when it is)."""
    name = field.name
    return None if name.isidentifier() and not keyword.iskeyword(name) else f"field_{position}"


def _field(field: InputField, position: int) -> tuple[Any, Any]:
    annotation: Any = Literal[tuple(field.allowed)] if field.allowed else _TYPES[field.kind]
    if field.nullable:
        annotation = annotation | None
    options: dict[str, Any] = {"description": field.description or None}
    if field.example is not None:
        options["examples"] = [field.example]
    for key in ("pattern", "min_length", "max_length", "ge", "le"):
        if getattr(field, key) is not None:
            options[key] = getattr(field, key)
    if _python_name(field, position) is not None:
        options["alias"] = field.name
    default = ... if field.required else field.default
    return annotation, Field(default, **options)


def record_schema(contract: InputContract, title: str) -> type[BaseModel]:
    """The pydantic schema of one record of `contract` (`title`: its name in the API documentation)."""
    base: type[BaseModel] = LenientRecord if contract.lenient else StrictRecord
    fields: dict[str, Any] = {
        (_python_name(f, i) or f.name): _field(f, i) for i, f in enumerate(contract.fields)
    }
    schema: type[BaseModel] = create_model(
        title, __base__=base, __doc__=contract.description or None, **fields
    )
    if contract.lenient:
        schema.kinds = {f.name: f.kind for f in contract.fields}  # type: ignore[attr-defined]
    return schema


def request_schema(
    records: type[BaseModel],
    records_field: str,
    related: dict[str, type[BaseModel]],
    title: str,
    example: dict[str, Any],
) -> type[ScoresRequest]:
    """The envelope of a scoring request: the records (`records_field`) or `columns`, `explain`, and the
    related tables the model reads (validated after the envelope, like the records)."""
    item_schema = records.model_json_schema(by_alias=True)
    fields: dict[str, Any] = {
        records_field: (
            list[Any] | None,
            Field(default=None, min_length=1, max_length=10_000, json_schema_extra={"items": item_schema}),
        )
    }
    for name, schema in related.items():
        fields[name] = (
            list[Any] | None,
            Field(
                default=None,
                max_length=100_000,
                description=(schema.__doc__ or "").strip() or None,
                json_schema_extra={"items": schema.model_json_schema(by_alias=True)},
            ),
        )

    class Envelope(ScoresRequest):
        model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})

    envelope: type[ScoresRequest] = create_model(
        title, __base__=Envelope, __doc__="1 to 10,000 records to score.", **fields
    )
    envelope.records_field = records_field
    envelope.related_fields = tuple(related)
    envelope.example = example
    return envelope


def result_schema(contract: InputContract, outputs: tuple[OutputField, ...], title: str) -> type[BaseModel]:
    """The shape of one result: the record's index (and identifier), the probability, the model's own
    outputs, the reasons."""
    fields: dict[str, Any] = {"index": (int, Field(description="Position of the record in the request"))}
    if contract.id_field is not None:
        fields[_id_key(contract)] = (str | None, Field(default=None, alias=contract.id_field))
    fields["probability"] = (float, Field(ge=0, le=1, description="Calibrated probability"))
    for out in outputs:
        annotation: Any = {"float": float, "text": str, "texts": list[str]}[out.kind]
        if out.allowed:
            annotation = Literal[tuple(out.allowed)]
        options = {k: getattr(out, k) for k in ("ge", "le") if getattr(out, k) is not None}
        fields[out.name] = (annotation, Field(description=out.description or None, **options))
    fields["reasons"] = (list[str], Field(default=[], description="The 3 main reasons, in French"))
    return create_model(title, __config__=ConfigDict(populate_by_name=True), **fields)


def _id_key(contract: InputContract) -> str:
    name = contract.id_field or "id"
    return name if name.isidentifier() and not keyword.iskeyword(name) else "record_id"


@dataclass(frozen=True, eq=False)
class SchemaSet:
    """Every schema the routes need for one served model."""

    record: type[BaseModel]
    related: dict[str, type[BaseModel]]
    result: type[BaseModel]
    response: type[BaseModel]
    contract: InputContract
    outputs: tuple[OutputField, ...]

    def request(self, records_field: str = "records") -> type[ScoresRequest]:
        """The request envelope with the records under `records_field` (`companies` on a named route)."""
        return _request(self, records_field)

    @classmethod
    def of(cls, model: ScoringModel, name: str) -> SchemaSet:
        """The schemas of a fitted model (named after the served model: `apprenticeship_host` ->
        `ApprenticeshipHostRecord`...)."""
        stem = "".join(part.capitalize() for part in _words(name))
        contract, outputs = model.input_contract, model.output_fields
        record = record_schema(contract, f"{stem}Record")
        related = {k: record_schema(c, f"{stem}{k.capitalize()}Record") for k, c in contract.related.items()}
        result = result_schema(contract, outputs, f"{stem}Score")
        response = create_model(
            f"{stem}ScoresResponse",
            __base__=ScoresMeta,
            results=(list[result], ...),  # type: ignore[valid-type]
            errors=(list[RecordError], ...),
        )
        return cls(record, related, result, response, contract, outputs)


@lru_cache(maxsize=64)
def _request(schemas: SchemaSet, records_field: str) -> type[ScoresRequest]:
    example = {records_field: [schemas.contract.example()], "explain": True}
    stem = schemas.record.__name__.removesuffix("Record")
    suffix = "" if records_field == "records" else records_field.capitalize()
    return request_schema(
        schemas.record, records_field, schemas.related, f"{stem}{suffix}ScoresRequest", example
    )


def _words(name: str) -> list[str]:
    return [w for w in "".join(c if c.isalnum() else " " for c in name).split() if w]
