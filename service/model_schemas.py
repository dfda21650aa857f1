"""Request and response schemas derived from a served model's own contract (`models.interface`): the record
schema of its input fields, the envelope of a scoring request, the shape of one result.

Built once per model version (`SchemaSet.of`), so a model retrained on a centre's extract, with columns no
one here wrote, is served with a schema of its own and no code change.

Beyond each field's type and bounds, a record schema carries its contract's `RecordRules`: identifiers
(a SIRET's Luhn key, a NAF rev.2 sub-class or an INSEE COG commune code the reference knows) and the order
of its dates (a contract ending after it starts, a company created by its scoring date). The codes known are
those of the reference data the models are trained with (`catalog.reference`, the shipped COG and NAF
files, read once per process when a contract names such a field): a model holds no file, its contract only
says which field holds which kind of code (`InputField.code`).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from models.contracts import siret_keys_valid
from models.interface import CodeKind, DateOrder, InputContract, InputField, OutputField, ScoringModel
from service import messages
from service.schemas import RecordError, ScoresMeta, ScoresRequest

_TYPES: dict[str, type] = {"text": str, "date": date, "int": int, "float": float}
_FRENCH_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")


class StrictRecord(BaseModel):
    """A record of a model whose contract is strict: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    rules: ClassVar[RecordRules | None] = None  # the contract's rules beyond the fields (`RecordRules`)


class LenientRecord(BaseModel):
    """A row of a centre's extract, read as the extract is written: column names without stray spaces,
    columns the model does not read ignored (never kept), decimal commas, categories coded as numbers."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    kinds: ClassVar[dict[str, str]] = {}  # column name -> field kind
    rules: ClassVar[RecordRules | None] = None

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


def record_schema(
    contract: InputContract, title: str, known: Mapping[CodeKind, frozenset[str]] | None = None
) -> type[BaseModel]:
    """The pydantic schema of one record of `contract` (`title`: its name in the API documentation), with
    the contract's `RecordRules` (`known`: the codes by kind, default the reference's) as `rules`."""
    base: type[BaseModel] = LenientRecord if contract.lenient else StrictRecord
    fields: dict[str, Any] = {
        (_python_name(f, i) or f.name): _field(f, i) for i, f in enumerate(contract.fields)
    }
    schema: type[BaseModel] = create_model(
        title, __base__=base, __doc__=contract.description or None, **fields
    )
    if contract.lenient:
        schema.kinds = {f.name: f.kind for f in contract.fields}  # type: ignore[attr-defined]
    schema.rules = RecordRules.of(contract, known)  # type: ignore[attr-defined]
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
    fields["prediction_id"] = (
        str,
        Field(
            description="Id of this score, kept for monitoring: send it back with the outcome "
            "(POST /v1/outcomes)"
        ),
    )
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


# --------------------------------------------------------------------------------------------------------
# Rules beyond the fields' own constraints: identifiers and the order of dates


def siret_valid(text: str) -> bool:
    """A SIRET's key: 14 ASCII digits passing the key check of `models.contracts.siret_keys_valid`."""
    if len(text) != 14 or not text.isascii() or not text.isdigit():
        return False
    return bool(siret_keys_valid(np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(1, 14) - 48)[0])


def siret_valid_array(values: pa.Array) -> np.ndarray:
    """`siret_valid` of every value of a text column, computed on the column's bytes (a null: False)."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=bool)
    text = values.cast(pa.string())
    shaped = pc.fill_null(pc.match_substring_regex(text, r"^[0-9]{14}\z"), False)
    fixed = pc.if_else(shaped, text, pa.scalar("0" * 14))  # every value 14 bytes: one digit matrix
    offsets = np.frombuffer(fixed.buffers()[1], dtype=np.int32)[fixed.offset : fixed.offset + n + 1]
    data = np.frombuffer(fixed.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return siret_keys_valid(data.reshape(n, 14) - 48) & np.asarray(shaped, dtype=bool)


def _canonical_naf(text: str) -> str:
    code = text.strip().upper()
    return f"{code[:2]}.{code[2:]}" if len(code) == 5 else code


def _canonical_naf_array(values: pa.Array) -> pa.Array:
    code = pc.utf8_upper(pc.utf8_trim_whitespace(values.cast(pa.string())))
    dotted = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(code, 0, 2), pc.utf8_slice_codeunits(code, 2, 5), "."
    )
    return pc.if_else(pc.equal(pc.utf8_length(code), 5), dotted, code)


@lru_cache(maxsize=1)
def reference_codes() -> dict[CodeKind, frozenset[str]]:
    """The codes the models are trained with, by kind: NAF rev.2 sub-classes (dotted) and COG communes
    (current codes, arrondissements and the former codes of merged communes), read once per process."""
    from catalog.reference import load_reference

    reference = load_reference()
    return {
        "naf": reference.naf_codes,
        "commune": reference.commune_codes | frozenset(reference.former_communes),
    }


@lru_cache(maxsize=8)
def _value_set(codes: frozenset[str]) -> pa.Array:
    """The known codes as an Arrow array (built once per code set, not once per batch)."""
    return pa.array(sorted(codes), type=pa.string())


@dataclass(frozen=True)
class CodeRule:
    """One identifier field: its name in the record, its attribute on a validated record, its kind and the
    codes known for it (None for a SIRET, checked by its key)."""

    name: str
    attribute: str
    kind: CodeKind
    known: frozenset[str] | None

    def accepts(self, value: str) -> bool:
        """Whether one validated value is a real identifier of its kind."""
        if self.kind == "siret":
            return siret_valid(value)
        code = _canonical_naf(value) if self.kind == "naf" else value.strip().upper()
        return self.known is not None and code in self.known

    def accepts_array(self, values: pa.Array) -> np.ndarray:
        """The same for a column (a null is accepted: whether a field may be empty is its own rule)."""
        nulls = np.asarray(values.is_null(), dtype=bool)
        if self.kind == "siret":
            return siret_valid_array(values) | nulls
        text = values.cast(pa.string())
        code = (
            _canonical_naf_array(text) if self.kind == "naf" else pc.utf8_upper(pc.utf8_trim_whitespace(text))
        )
        known = pc.is_in(code, value_set=_value_set(self.known or frozenset()))
        return np.asarray(pc.fill_null(known, False), dtype=bool) | nulls

    @property
    def reason(self) -> str:
        """Why a value was refused (French, never the value)."""
        return {
            "siret": messages.SIRET_KEY,
            "naf": messages.UNKNOWN_NAF,
            "commune": messages.UNKNOWN_COMMUNE,
        }[self.kind]

    @property
    def shape_reason(self) -> str:
        """Why a value not even of the identifier's form was refused."""
        return {
            "siret": messages.SIRET_SHAPE,
            "naf": messages.NAF_SHAPE,
            "commune": messages.COMMUNE_SHAPE,
        }[self.kind]


@dataclass(frozen=True)
class RecordRules:
    """The checks of a record beyond each field's type and constraints (identifiers, order of dates), read
    from its contract. One definition, two entries: `errors` for records pydantic validated (the plain path,
    the reference every faster reader is compared with) and `accepts_columns` for the columns of a large
    batch (the column-wise and Arrow readers), which sends the records it refuses to `errors`."""

    codes: tuple[CodeRule, ...]
    order: tuple[DateOrder, ...]
    attributes: Mapping[str, str]  # field name -> attribute on a validated record

    def __bool__(self) -> bool:
        return bool(self.codes or self.order)

    @classmethod
    def of(
        cls, contract: InputContract, known: Mapping[CodeKind, frozenset[str]] | None = None
    ) -> RecordRules:
        """The rules of a contract; `known`: the codes by kind (default: the reference's, read once)."""
        attributes = {f.name: _python_name(f, i) or f.name for i, f in enumerate(contract.fields)}
        coded = [f for f in contract.fields if f.code is not None]
        if known is None and any(f.code != "siret" for f in coded):
            known = reference_codes()
        codes = tuple(
            CodeRule(f.name, attributes[f.name], f.code, None if f.code == "siret" else (known or {})[f.code])
            for f in coded
            if f.code is not None
        )
        return cls(codes, contract.order, attributes)

    def errors(self, index: int, record: BaseModel) -> list[RecordError]:
        """Why a record pydantic validated is still impossible (empty: it is not), by field."""
        found: list[RecordError] = []
        for rule in self.codes:
            value = getattr(record, rule.attribute)
            if value is not None and not rule.accepts(value):
                found.append(RecordError(index=index, field=rule.name, reason=rule.reason))
        for order in self.order:
            earlier = getattr(record, self.attributes[order.earlier])
            later = getattr(record, self.attributes[order.later])
            if later is None and order.later_default_today:
                later = date.today()
            if earlier is None or later is None:
                continue
            if later < earlier or (order.strict and later == earlier):
                found.append(RecordError(index=index, field=order.field, reason=_order_reason(order)))
        return found

    def accepts_columns(self, columns: Mapping[str, pa.Array]) -> np.ndarray:
        """Which rows of validated-looking columns (text; dates as ISO texts) pass every rule."""
        n = len(next(iter(columns.values())))
        ok = np.ones(n, dtype=bool)
        for rule in self.codes:
            ok &= rule.accepts_array(columns[rule.name])
        for order in self.order:
            earlier = columns[order.earlier].cast(pa.string())
            later = columns[order.later].cast(pa.string())
            if order.later_default_today:
                later = pc.fill_null(later, date.today().isoformat())
            after = pc.greater(later, earlier) if order.strict else pc.greater_equal(later, earlier)
            ok &= np.asarray(pc.fill_null(after, True), dtype=bool)
        return ok

    def shape_reason(self, field: str) -> str | None:
        """The French reason of a pattern mismatch on an identifier field (None for another field)."""
        return next((rule.shape_reason for rule in self.codes if rule.name == field), None)

    @property
    def fields(self) -> frozenset[str]:
        """The fields the rules read."""
        return frozenset([r.name for r in self.codes] + [n for o in self.order for n in (o.earlier, o.later)])


def _order_reason(order: DateOrder) -> str:
    other = order.earlier if order.field == order.later else order.later
    if order.field == order.later:
        template = messages.DATE_NOT_AFTER if order.strict else messages.DATE_BEFORE
    else:
        template = messages.DATE_NOT_BEFORE if order.strict else messages.DATE_AFTER
    suffix = messages.OR_TODAY if order.later_default_today and other == order.later else ""
    return template.format(other=other) + suffix + "."


NO_RULES = RecordRules((), (), {})


def rules_of(schema: type[BaseModel]) -> RecordRules:
    """The rules a record schema carries (none for a schema not derived from a contract)."""
    rules = getattr(schema, "rules", None)
    return rules if isinstance(rules, RecordRules) else NO_RULES
