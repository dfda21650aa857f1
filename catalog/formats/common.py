"""What every reader of a national format shares: the pseudonymous key, the cleaning of exported values,
the three date forms, and the result a reader hands to the import (`pipelines.importer`).

Minimisation happens here, at read time: a reader names the fields it reads; the identity fields it needs
to join a learner's records (name, first name, birth date) are turned into a keyed hash and the birth date
into an age *inside the reader*, so that no frame, file, log or error ever holds them. Every other field of
the format is never read (CSV: not even parsed into a column; JSON: not copied out of the record).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PSEUDONYM_KEY_ENV = "CMA_PSEUDONYM_KEY"
PSEUDONYM_KEY_ID_ENV = "CMA_PSEUDONYM_KEY_ID"
MIN_KEY_BYTES = 16


class FormatError(ValueError):
    """A whole file cannot be read in its format (not the format, no readable record, no key); the message
    names the file and the reason, never a value of the file."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


@dataclass(frozen=True)
class Pseudonymiser:
    """A keyed hash (HMAC-SHA256) of direct identifiers: the same learner gets the same key in every file read
    with the same secret, and nobody without the secret can go back from the key to the person (nor test a
    guess, as with a plain hash). Keys carry the id of the secret (`<key id>-<hash>`), so that keys made with
    different secrets are never mixed. Rotation: set a new secret and key id, import the files again (every
    key changes; the old datasets are then deleted, see the datasheets)."""

    secret: bytes
    key_id: str = "k1"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Pseudonymiser:
        """The secret of `CMA_PSEUDONYM_KEY` (at least 16 bytes) and its id `CMA_PSEUDONYM_KEY_ID`."""
        env = os.environ if environ is None else environ
        secret = env.get(PSEUDONYM_KEY_ENV, "")
        if len(secret.encode()) < MIN_KEY_BYTES:
            raise FormatError(
                PSEUDONYM_KEY_ENV,
                f"the pseudonymisation secret is missing or shorter than {MIN_KEY_BYTES} bytes: set "
                f"{PSEUDONYM_KEY_ENV} (e.g. `openssl rand -hex 32`) and keep it out of the repository",
            )
        key_id = env.get(PSEUDONYM_KEY_ID_ENV, "k1").strip() or "k1"
        if not re.fullmatch(r"[A-Za-z0-9_]{1,16}", key_id):
            raise FormatError(PSEUDONYM_KEY_ID_ENV, "the key id must be 1 to 16 letters, digits or _")
        return cls(secret.encode(), key_id)

    def keys(self, kind: str, *parts: pd.Series) -> pd.Series:
        """The pseudonymous key of each row from its identifying parts (normalised: accents, case, spaces and
        punctuation do not change the key, so SIFA's accent-stripped names join ERP's); missing when a part
        is missing."""
        normalised = [identity_text(p) for p in parts]
        missing = pd.concat([p.isna() | (p == "") for p in normalised], axis=1).any(axis=1)
        joined = normalised[0].fillna("")
        for part in normalised[1:]:
            joined = joined + "|" + part.fillna("")
        prefix = f"{kind}|".encode()
        digests = [
            hmac.new(self.secret, prefix + text.encode(), hashlib.sha256).hexdigest()[:20] for text in joined
        ]
        out = pd.Series([f"{self.key_id}-{d}" for d in digests], index=joined.index, dtype=object)
        return out.mask(missing, None)


def identity_text(values: pd.Series) -> pd.Series:
    """Names and dates as a key compares them: no accents, upper case, letters and digits only."""
    text = values.astype("string").fillna("")
    folded = text.map(
        lambda s: "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    )
    cleaned = folded.str.upper().str.replace(r"[^0-9A-Z]", "", regex=True)
    return cleaned.mask(cleaned == "", None)


_EXCEL_FORMULA = re.compile(r'^\s*="(.*)"\s*$', re.DOTALL)


def unexcel(values: pd.Series) -> pd.Series:
    """An export's `="..."` cells (the Excel trick that keeps leading zeros: `="01"`) read as their text;
    other values stripped; empty = missing."""
    text = values.astype("string").str.strip()
    inner = text.str.extract(_EXCEL_FORMULA, expand=False)
    out = inner.where(inner.notna(), text).str.strip()
    return out.mask(out == "", None)


def fold(values: pd.Series) -> pd.Series:
    """Free texts compared without accents or case (`Démission` = `DEMISSION`)."""
    return identity_text(values)


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates in the three forms the national exports use: ISO (`2024-09-02`, also with a time as the ERP
    API sends them), French (`02/09/2024`) and SIFA's packed `ddMMyyyy` (`02092024`); datetime64, NaT when
    a value is none of them (the contract then quarantines it)."""
    text = values.astype("string").str.strip()
    iso = pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    french = pd.to_datetime(text, format="%d/%m/%Y", errors="coerce")
    packed = pd.to_datetime(text.where(text.str.fullmatch(r"[0-9]{8}")), format="%d%m%Y", errors="coerce")
    parsed = iso.fillna(french).fillna(packed)
    in_range = (parsed.dt.year >= 1900) & (parsed.dt.year <= 2100)
    return parsed.where(in_range)


def iso_text(dates: pd.Series, raw: pd.Series) -> pd.Series:
    """Parsed dates as ISO text for the contracts; a value that is not a date is kept as it was, so that the
    contract quarantines it at its line with its reason."""
    text = dates.dt.strftime("%Y-%m-%d")
    return text.where(dates.notna(), raw.astype("string"))


def age_at(birth: pd.Series, when: pd.Series) -> pd.Series:
    """Age in completed years at `when` (the prediction date) of a birth date; the birth date itself is then
    dropped by the reader."""
    years = when.dt.year - birth.dt.year
    before_birthday = (when.dt.month < birth.dt.month) | (
        (when.dt.month == birth.dt.month) & (when.dt.day < birth.dt.day)
    )
    age = (years - before_birthday.astype(float)).astype(float)
    return age.where(birth.notna() & when.notna())


def map_codes(values: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """Codes of a format mapped to the project's vocabulary; an unknown code is kept as it is (the contract
    quarantines it as "not an allowed value"), a missing one stays missing."""
    text = values.astype("string")
    mapped = text.map(lambda v: mapping.get(v, v) if isinstance(v, str) else None)
    return mapped.astype(object).where(text.notna(), None)


def dotted_naf(values: pd.Series) -> pd.Series:
    """APE codes as the exports write them (`4322A`, `43.22A`, `43.22a`) in the dotted SIRENE form."""
    text = values.astype("string").str.strip().str.upper().str.replace(".", "", regex=False)
    dotted = text.str.slice(0, 2) + "." + text.str.slice(2)
    return dotted.where(text.str.fullmatch(r"[0-9]{4}[A-Z]").fillna(False), values.astype("string"))


HEADCOUNT_LIMITS = ((0, "00"), (2, "01"), (5, "02"), (9, "03"), (19, "11"), (49, "12"), (99, "21"))


def headcount_band(counts: pd.Series) -> pd.Series:
    """A headcount (number of employees) as its SIRENE band (`00` none, `01` 1-2, `02` 3-5, ... `22` 100+)."""
    number = pd.to_numeric(counts, errors="coerce")
    bands = np.select(
        [number <= limit for limit, _ in HEADCOUNT_LIMITS], [b for _, b in HEADCOUNT_LIMITS], "22"
    )
    return pd.Series(bands, index=counts.index, dtype=object).where(number.notna() & (number >= 0), None)


@dataclass
class FormatRead:
    """What a reader gives the import: per project contract (`models.contracts`), a table of texts in the
    contract's columns with `line` (where the row is in its file: the CSV line, the NDJSON line or the rank
    of the record in a JSON array), `source_fields` (contract column -> the format's field, to name it in
    quarantine reports), the errors of fields the reader itself could not read, and the fields read,
    derived and dropped (the datasheet's minimisation table)."""

    source: str
    format: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    source_fields: dict[str, dict[str, str]] = field(default_factory=dict)
    errors: list[dict[str, object]] = field(default_factory=list)

    def add(self, contract: str, frame: pd.DataFrame, fields: Mapping[str, str]) -> None:
        """One table for `contract` (with its `line` column) and the field each column comes from."""
        previous = self.tables.get(contract)
        self.tables[contract] = frame if previous is None else pd.concat([previous, frame], ignore_index=True)
        self.source_fields.setdefault(contract, {}).update(fields)


def present(record: Mapping[str, object], path: Iterable[str]) -> object:
    """The value at a nested `path` of a JSON record, None when any level is missing (a JSON reader copies
    only the paths it names out of a record, nothing else)."""
    node: object = record
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


SITUATION_N1_PREFIX: dict[str, str] = {
    "10": "college",
    "20": "lycee_general",
    "30": "voie_pro_scolaire",
    "31": "apprentissage",
    "40": "superieur",
    "41": "apprentissage",
}
SITUATION_N1_CODES: dict[str, str] = {
    "5901": "emploi",
    "5903": "emploi",
    "5905": "stage_formation",
    "5907": "sans_emploi",
    "5909": "stage_formation",
    "9900": "autre",
}


def situation_from_code(values: pd.Series) -> pd.Series:
    """The SIFA 4-digit code of the situation in year N-1 (SIFA `SIT_N_1`, ERP `derniere_situation`)
    coarsened to `models.vocabulary.PRIOR_SITUATIONS` (by its first two digits, or the whole code for the
    59xx and 99xx ones); 9999 (unknown) and 0 are missing, an unknown code is kept for the contract to
    quarantine."""
    code = unexcel(values).str.replace(r"\.0$", "", regex=True)

    def group(value: object) -> object:
        if not isinstance(value, str) or value in ("9999", "0"):
            return None
        if len(value) == 4 and value.isdigit():
            return SITUATION_N1_CODES.get(value) or SITUATION_N1_PREFIX.get(value[:2]) or value
        return value

    return code.astype(object).map(group)


PRIOR_SITUATION_SIFA: dict[str, str] = {
    "11": "college",
    "12": "autre",
    "21": "lycee_general",
    "31": "voie_pro_scolaire",
    "41": "superieur",
    "51": "emploi",
    "52": "stage_formation",
    "53": "emploi",
    "54": "sans_emploi",
    "90": "autre",
}
"""SIFA `SIT_AV_APP` (situation before the contract) -> `PRIOR_SITUATIONS`; 99 (unknown) is missing."""

PRIOR_QUALIFICATION_SIFA: dict[str, str] = {
    "01": "aucun",
    "02": "aucun",
    "03": "brevet",
    "04": "cap_bep",
    "05": "cap_bep",
    "06": "cap_bep",
    "07": "bac",
    "08": "bac",
    "09": "bac",
    "10": "bac",
    "11": "superieur",
    "12": "superieur",
    "13": "superieur",
    "14": "superieur",
    "15": "superieur",
}
"""SIFA `DIP_OBT` (last diploma obtained) -> `PRIOR_QUALIFICATIONS`; 99 (unknown) is missing."""

DIPLOMA_CFD_PREFIX: dict[str, str] = {
    "500": "CAP",
    "010": "MC",
    "450": "BP",
    "400": "BAC_PRO",
    "460": "BTM",
    "320": "BTS",
}
"""The first three characters of a diploma code (CFD, Éducation nationale: the level and kind of diploma)
-> the project's `DIPLOMAS`; a code outside them (and an RNCP code) leaves `diploma` empty, `diploma_code`
kept."""


def diploma_from_code(codes: pd.Series) -> pd.Series:
    """The diploma prepared, from its CFD (see `DIPLOMA_CFD_PREFIX`); an RNCP code: a titre professionnel."""
    text = codes.astype("string").str.strip().str.upper()
    by_prefix = text.str.slice(0, 3).map(lambda p: DIPLOMA_CFD_PREFIX.get(p) if isinstance(p, str) else None)
    rncp = text.str.startswith("RNCP").fillna(False)
    out = by_prefix.astype(object).where(by_prefix.notna(), None)
    return out.mask(rncp & out.isna(), "TITRE_PRO")


EMPLOYER_TYPE_SIFA: dict[str, str] = {
    "11": "artisan",
    **{str(code): "prive_autre" for code in range(12, 17)},
    **{str(code): "public" for code in range(21, 31)},
}
"""SIFA `TYPE_EMP` (and DECA `type_employeur`) -> `EMPLOYER_TYPES`."""

RUPTURE_CAUSE_WORDS: tuple[tuple[str, str], ...] = (
    ("COMMUNACCORD", "commun_accord"),
    ("AMIABLE", "commun_accord"),
    ("DEMISSION", "demission"),
    ("APPRENTI", "demission"),
    ("DIPLOME", "diplome"),
    ("FORCEMAJEURE", "force_majeure"),
    ("LIQUIDATION", "force_majeure"),
    ("FERMETURE", "force_majeure"),
    ("LICENCIEMENT", "licenciement"),
    ("RESILIATION", "licenciement"),
    ("FAUTE", "licenciement"),
    ("INAPTITUDE", "licenciement"),
    ("EMPLOYEUR", "licenciement"),
)


def rupture_cause(texts: pd.Series) -> pd.Series:
    """The free text of a rupture cause (ERP `cause_rupture_contrat`, DECA `code_motif_rupture`) coarsened
    to `RUPTURE_CAUSES` by its words; the text itself is never kept (it may name a person)."""
    folded = fold(texts)
    out = pd.Series("autre", index=texts.index, dtype=object)
    for word, cause in reversed(RUPTURE_CAUSE_WORDS):  # the first listed word wins
        out = out.mask(folded.str.contains(word, regex=False).fillna(False), cause)
    return out.where(folded.notna(), None)


def read_delimited(raw: bytes, names: tuple[str, ...], wanted: tuple[str, ...], source: str) -> pd.DataFrame:
    """The `wanted` columns of a delimited export (`;` SIFA, with or without its header line), every other
    column skipped as it is parsed (never held), plus `line` (the file line of each row) and `fields` (the
    number of fields of the row, to quarantine ragged rows)."""
    import csv
    import io

    from catalog.tables import separator_of

    text = _utf8(raw, source)
    first = text.split("\n", 1)[0].rstrip("\r")
    delimiter = separator_of(first)
    header = [
        h.strip().lstrip("\ufeff").strip().strip('"') for h in next(csv.reader([first], delimiter=delimiter))
    ]
    has_header = wanted[0] in header or any(name in header for name in wanted)
    columns = header if has_header else list(names[: len(header)])
    index = {name: columns.index(name) for name in wanted if name in columns}
    missing = [name for name in wanted if name not in index]
    if missing and has_header:
        raise FormatError(source, f"missing field(s) {', '.join(missing)} (expected the official names)")
    rows: dict[str, list[str | None]] = {name: [] for name in wanted}
    lines: list[int] = []
    widths: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, record in enumerate(reader, start=1):
            if (number == 1 and has_header) or not record:
                continue
            lines.append(reader.line_num)
            widths.append(len(record))
            for name in wanted:
                i = index.get(name)
                rows[name].append(record[i] if i is not None and i < len(record) else None)
    except csv.Error as err:
        raise FormatError(source, "unreadable lines (an unclosed quote or a control character)") from err
    frame = pd.DataFrame(rows, dtype=object)
    return frame.assign(line=lines, fields=widths, expected=len(columns))


def _utf8(raw: bytes, source: str) -> str:
    try:
        return raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252")  # older SIFA exports from Windows software
        except UnicodeDecodeError as err:
            raise FormatError(source, "not a text file (neither UTF-8 nor Windows-1252)") from err


def json_records(raw: bytes, source: str) -> list[tuple[int, dict[str, object] | None]]:
    """The records of a JSON export with where each one is: an NDJSON file (one record a line: its line
    number) or a JSON array (its rank, 1 for the first record). A line that is not a JSON object is a
    `(line, None)` entry, quarantined by the reader; a file that is neither is a `FormatError`."""
    import json

    text = _utf8(raw, source).strip()
    if not text:
        raise FormatError(source, "empty file")
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise FormatError(source, f"not valid JSON (line {err.lineno})") from err
        return [(rank, item if isinstance(item, dict) else None) for rank, item in enumerate(items, start=1)]
    out: list[tuple[int, dict[str, object] | None]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            item = None
        out.append((number, item if isinstance(item, dict) else None))
    return out


def broken_records(
    records: list[tuple[int, dict[str, object] | None]], source: str
) -> list[dict[str, object]]:
    """The quarantine entries of the lines that are not JSON objects."""
    return [
        {"source": source, "line": line, "column": "(ligne)", "reason": "not a JSON object"}
        for line, item in records
        if item is None
    ]


NOT_A_VALUE = "(an object or a list)"
"""What a reader keeps of a read field holding a JSON object or list: never its content; the contract
quarantines it."""

_MONGO_WRAPPERS = ("$date", "$numberLong", "$numberInt", "$numberDouble")


def json_text(value: object) -> str | None:
    """A JSON value of a read field as the text a contract reads: strings stripped (empty = missing),
    numbers as written (`24.0` as `24`), booleans `true`/`false`, Mongo's extended JSON wrappers
    (`{"$date": ...}`) unwrapped; an object or a list is `NOT_A_VALUE` (its content is never copied)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in _MONGO_WRAPPERS:
        return json_text(next(iter(value.values())))
    return NOT_A_VALUE


def boolean_flag(value: object) -> str | None:
    """A JSON boolean as the contracts' `1`/`0`; any other value as its text (the contract quarantines it)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return json_text(value)


def local_days(values: pd.Series) -> pd.Series:
    """Dates written with a time zone (`2006-03-14T23:00:00.000Z`, `2023-09-18T00:00:00+02:00`) as their
    calendar day in Europe/Paris (`2006-03-15`, `2023-09-18`); every other text unchanged, for
    `parse_dates` (a UTC midnight stays its own day: Paris is ahead of UTC)."""
    text = values.astype("string").str.strip()
    zoned = text.str.fullmatch(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})"
    ).fillna(False)
    if not zoned.any():
        return text
    moments = pd.to_datetime(text[zoned], utc=True, errors="coerce", format="ISO8601")
    days = moments.dt.tz_convert("Europe/Paris").dt.strftime("%Y-%m-%d").astype("string")
    return text.mask(zoned & days.reindex(text.index).notna(), days.reindex(text.index))


def clean_siret(values: pd.Series) -> pd.Series:
    """SIRETs without the spaces, dots and dashes exports put in them."""
    return values.astype("string").str.replace(r"[\s.\-]", "", regex=True)


def clean_rncp(values: pd.Series) -> pd.Series:
    """RNCP codes as the API stores them: upper case, no separators, `RNCP` added to bare digits."""
    text = values.astype("string").str.upper().str.replace(r"[\s.\-]", "", regex=True)
    return text.mask(text.str.fullmatch(r"[0-9]{2,5}").fillna(False), "RNCP" + text)


SEX_CODES: dict[str, str] = {"M": "M", "H": "M", "1": "M", "F": "F", "2": "F"}
"""ERP `sexe_apprenant` (and DECA `alternant.sexe`): M/F, H for homme, SIFA's 1/2."""
