"""A file drop, as declared in YAML: where files land, how they are named, when they are
complete, how they are grouped into runs, and their format. ``docs/file-drops.md`` is the
reference; :func:`drop_spec` reads the YAML mapping and fails with a one-line error naming the
field at fault.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

# Column types a drop may declare, and their Arrow types in the parsed table.
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
TYPES = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
}
FORMAT_KINDS = ("csv", "jsonl", "parquet", "delimited_log")


class SpecError(ValueError):
    """A drop's declaration is invalid (the message names the field)."""


def arrow_type(name: str) -> pa.DataType:
    if m := _DECIMAL.match(name.strip()):
        return pa.decimal128(int(m[1]), int(m[2]))
    if name not in TYPES:
        raise SpecError(f"unknown column type {name!r} (known: {', '.join(TYPES)}, decimal(p,s))")
    return TYPES[name]


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    required: bool = False  # an empty value rejects the line
    format: str | None = None  # strptime pattern of a date/timestamp written otherwise

    @property
    def arrow(self) -> pa.DataType:
        return arrow_type(self.type)


@dataclass(frozen=True)
class CsvFormat:
    columns: tuple[Column, ...]
    delimiter: str = ","
    quote: str | None = '"'
    header: bool = True  # the first line names the columns (checked against ``columns``)
    encoding: str = "utf-8"
    decimal: str = "."
    thousands: str | None = None  # a grouping mark removed from numbers ("1.234,50")
    nulls: tuple[str, ...] = ("",)
    trailer: str | None = None  # regex the last line matches; group ``rows`` = data lines
    true_values: tuple[str, ...] = ("true", "True", "TRUE", "1")
    false_values: tuple[str, ...] = ("false", "False", "FALSE", "0")
    kind: str = "csv"


@dataclass(frozen=True)
class JsonlFormat:
    columns: tuple[Column, ...]
    encoding: str = "utf-8"
    kind: str = "jsonl"


@dataclass(frozen=True)
class ParquetFormat:
    columns: tuple[Column, ...]
    kind: str = "parquet"


@dataclass(frozen=True)
class DelimitedLogFormat:
    """Machine logs: canonical fields, one block per machine type (``sources/machines``)."""

    types: tuple[dict, ...]
    kind: str = "delimited_log"


Format = CsvFormat | JsonlFormat | ParquetFormat | DelimitedLogFormat


@dataclass(frozen=True)
class Grouping:
    """Files are grouped into runs by arrival waves of ``hours`` (24: daily) from midnight UTC."""

    hours: int = 24

    @property
    def key_format(self) -> str:
        return "%Y-%m-%d" if self.hours == 24 else "%Y-%m-%dT%H"

    def start(self, moment: datetime) -> datetime:
        moment = moment.astimezone(UTC)
        return moment.replace(
            hour=moment.hour - moment.hour % self.hours, minute=0, second=0, microsecond=0
        )

    def key(self, moment: datetime) -> str:
        return self.start(moment).strftime(self.key_format)

    def bounds(self, key: str) -> tuple[datetime, datetime]:
        start = datetime.strptime(key, self.key_format).replace(tzinfo=UTC)
        return start, start + timedelta(hours=self.hours)

    @classmethod
    def parse(cls, text: str) -> "Grouping":
        text = str(text).strip().lower()
        if text == "daily":
            return cls(24)
        if (m := re.fullmatch(r"(\d+)h", text)) and 24 % int(m[1]) == 0:
            return cls(int(m[1]))
        raise SpecError(f"grouping {text!r}: 'daily' or '<N>h' with N dividing 24")


@dataclass(frozen=True)
class DropSpec:
    name: str  # the drop: lake/<name>/raw, warehouse/<name>/parsed
    format: Format
    pattern: re.Pattern  # file names taken; named groups become string columns
    landing_prefix: str = ""  # under the landing store (default: the name)
    time_group: str | None = None  # named group holding the file's time (else: modified time)
    time_format: str = "%Y%m%dT%H%M%S"
    settle_seconds: float = 20.0
    marker_suffix: str | None = None  # complete when <name><suffix> exists (e.g. ".done")
    grouping: Grouping = field(default_factory=Grouping)

    @property
    def prefix(self) -> str:
        return self.landing_prefix or self.name

    def name_groups(self, file_name: str) -> dict[str, str] | None:
        """The named groups of a file name, None if the name is not the drop's."""
        m = self.pattern.fullmatch(file_name.rsplit("/", 1)[-1])
        return None if m is None else {k: v for k, v in m.groupdict().items() if v is not None}

    def started(self, file_name: str) -> datetime | None:
        """The file's time from its name (None: no time group, or an impossible time)."""
        groups = self.name_groups(file_name) or {}
        if not self.time_group or self.time_group not in groups:
            return None
        try:
            return datetime.strptime(groups[self.time_group], self.time_format).replace(tzinfo=UTC)
        except ValueError:
            return None


def _columns(raw: Any, where: str) -> tuple[Column, ...]:
    if not raw:
        raise SpecError(f"{where}: 'columns' is required (a list of name/type)")
    columns = []
    for i, c in enumerate(raw):
        c = {"name": c} if isinstance(c, str) else dict(c)
        try:
            column = Column(**c)
        except TypeError as exc:
            raise SpecError(f"{where}: columns[{i}]: {exc}") from None
        column.arrow  # noqa: B018 (validates the type)
        columns.append(column)
    return tuple(columns)


def format_spec(raw: dict) -> Format:
    raw = dict(raw)
    kind = raw.pop("kind", None)
    if kind not in FORMAT_KINDS:
        raise SpecError(f"format.kind {kind!r}: one of {', '.join(FORMAT_KINDS)}")
    if kind == "delimited_log":
        return DelimitedLogFormat(types=tuple(raw.pop("types", ())))
    columns = _columns(raw.pop("columns", None), f"format ({kind})")
    for key in ("nulls", "true_values", "false_values"):
        if key in raw:
            raw[key] = tuple(str(v) for v in raw[key])
    cls = {"csv": CsvFormat, "jsonl": JsonlFormat, "parquet": ParquetFormat}[kind]
    try:
        fmt = cls(columns=columns, **raw)
    except TypeError as exc:
        raise SpecError(f"format ({kind}): {exc}") from None
    if isinstance(fmt, CsvFormat):
        "x".encode(fmt.encoding)  # an unknown encoding fails here (LookupError)
        if len(fmt.delimiter) != 1:
            raise SpecError(f"format (csv): delimiter {fmt.delimiter!r} must be one character")
    return fmt


def drop_spec(raw: dict) -> DropSpec:
    """A :class:`DropSpec` from its YAML mapping."""
    raw = dict(raw)
    try:
        pattern = re.compile(raw.pop("pattern"))
        fmt = format_spec(raw.pop("format"))
    except KeyError as exc:
        raise SpecError(f"drop {raw.get('name')!r}: {exc.args[0]!r} is required") from None
    except re.error as exc:
        raise SpecError(f"drop {raw.get('name')!r}: pattern: {exc}") from None
    if "grouping" in raw:
        raw["grouping"] = Grouping.parse(raw["grouping"])
    time_group = raw.get("time_group")
    if time_group and time_group not in pattern.groupindex:
        raise SpecError(f"time_group {time_group!r} is no named group of the pattern")
    try:
        return DropSpec(pattern=pattern, format=fmt, **raw)
    except TypeError as exc:
        raise SpecError(f"drop {raw.get('name')!r}: {exc}") from None
