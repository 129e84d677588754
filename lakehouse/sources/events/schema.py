"""Platform events: the versioned JSON envelope, each type's payload schema, validation.

An event on the bus is one JSON object (UTF-8)::

    {"event_id": "…", "type": "trade_funded", "version": 1,
     "occurred_at": "2026-01-05T10:22:01Z", "payload": {…}}

Each ``(type, version)`` has a fixed payload schema (:data:`EVENT_TYPES`, documented in
docs/events.md). :func:`parse` turns a message body into an :class:`Event` or an
:class:`Invalid` carrying the reason; it never raises on bad input. In the lake, every type
has one Arrow schema (:func:`lake_schema`): the envelope, the union of its versions' payload
fields as typed columns, and the payload's original JSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

ENVELOPE_FIELDS = ("event_id", "type", "version", "occurred_at", "payload")
MAX_EVENT_ID_LENGTH = 128
# Namespace of the deterministic event ids derived from platform rows (uuid5).
EVENT_ID_NAMESPACE = uuid.UUID("7d0c9a39-3f7e-5b52-9c7a-1b2e6b6f0e51")


# ---------------------------------------------------------------------------------------
# payload schemas


@dataclass(frozen=True)
class Field:
    """One payload field: ``kind`` is ``int``, ``str``, ``decimal``, ``date`` or ``enum``."""

    name: str
    kind: str
    description: str
    precision: int = 14  # decimal
    scale: int = 2  # decimal
    choices: tuple[str, ...] = ()  # enum

    @property
    def arrow_type(self) -> pa.DataType:
        return {
            "int": pa.int64(),
            "str": pa.string(),
            "enum": pa.string(),
            "date": pa.date32(),
            "decimal": pa.decimal128(self.precision, self.scale),
        }[self.kind]

    @property
    def json_type(self) -> str:
        """How the field is written in JSON (for docs)."""
        return {
            "int": "integer",
            "str": "string",
            "enum": " \\| ".join(f"`{c}`" for c in self.choices),
            "date": 'string `"YYYY-MM-DD"`',
            "decimal": f"string, decimal ≥ 0 with ≤ {self.scale} places",
        }[self.kind]

    def check(self, value: Any) -> tuple[Any, str | None]:
        """(typed value, None) or (None, what is wrong with ``value``)."""
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return None, f"must be an integer, got {_json_kind(value)}"
            if not -(2**63) <= value < 2**63:
                return None, "is out of the 64-bit integer range"
            return value, None
        if self.kind in ("str", "enum"):
            if not isinstance(value, str):
                return None, f"must be a string, got {_json_kind(value)}"
            if self.kind == "enum" and value not in self.choices:
                return None, f"must be one of {', '.join(self.choices)}, got {value!r}"
            return value, None
        if self.kind == "date":
            if not isinstance(value, str):
                return None, f"must be a date string YYYY-MM-DD, got {_json_kind(value)}"
            try:
                return dt.date.fromisoformat(value), None
            except ValueError:
                return None, f"must be a date YYYY-MM-DD, got {value!r}"
        # decimal: a string, so that amounts are exact
        if not isinstance(value, str):
            return None, f'must be a decimal string such as "12.50", got {_json_kind(value)}'
        if not _DECIMAL.fullmatch(value):
            return None, f'must be a plain decimal number such as "12.50", got {value!r}'
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None, f"must be a decimal number, got {value!r}"
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > self.scale:
            return None, f"has more than {self.scale} decimal places: {value!r}"
        if number.adjusted() >= self.precision - self.scale:
            return None, f"is too large for DECIMAL({self.precision},{self.scale}): {value!r}"
        if number < 0:
            return None, f"must not be negative: {value!r}"
        return number, None


_DECIMAL = re.compile(r"-?\d+(\.\d+)?")


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    versions: Mapping[int, tuple[Field, ...]]
    source: str  # where the simulated platform's events come from (docs)

    @property
    def latest(self) -> int:
        return max(self.versions)

    def columns(self) -> list[Field]:
        """Every payload field of every version, first occurrence first (the lake columns)."""
        seen: dict[str, Field] = {}
        for version in sorted(self.versions):
            for f in self.versions[version]:
                if f.name in seen and seen[f.name].arrow_type != f.arrow_type:
                    raise TypeError(f"{self.name}: field {f.name} changes type across versions")
                seen.setdefault(f.name, f)
        return list(seen.values())


def _amount(name: str, description: str) -> Field:
    return Field(name, "decimal", description)


_CURRENCY = Field("currency", "enum", "ISO 4217 currency of the amounts", choices=("GBP", "EUR"))
_APPLICATION_V1 = (
    Field("application_id", "int", "`applications.id`"),
    Field("seller_id", "int", "`companies.id` of the seller"),
    _amount("requested_amount", "sum of the application's invoices' face values"),
)

EVENT_TYPES: dict[str, EventType] = {
    t.name: t
    for t in (
        EventType(
            "application_submitted",
            "A seller submitted an application for finance.",
            {
                1: _APPLICATION_V1,
                2: (
                    *_APPLICATION_V1,
                    _CURRENCY,
                    Field("invoice_count", "int", "invoices uploaded with the application"),
                ),
            },
            "`applications` (at `submitted_at`)",
        ),
        EventType(
            "invoice_uploaded",
            "An invoice was uploaded with an application.",
            {
                1: (
                    Field("invoice_id", "int", "`invoices.id`"),
                    Field("application_id", "int", "`applications.id`"),
                    Field("seller_id", "int", "`companies.id` of the seller"),
                    Field("debtor_id", "int", "`companies.id` of the debtor"),
                    _amount("face_value", "the invoice's face value"),
                    _CURRENCY,
                    Field("issue_date", "date", "invoice date"),
                    Field("due_date", "date", "payment due date"),
                )
            },
            "`invoices` (at `created_at`)",
        ),
        EventType(
            "underwriter_decided",
            "An underwriter approved or declined an application.",
            {
                1: (
                    Field("decision_id", "int", "`underwriter_decisions.id`"),
                    Field("application_id", "int", "`applications.id`"),
                    Field("underwriter", "str", "the underwriter's name"),
                    Field("decision", "enum", "the outcome", choices=("approved", "declined")),
                    Field("reason", "str", "the stated reason"),
                )
            },
            "`underwriter_decisions` (at `decided_at`)",
        ),
        EventType(
            "trade_funded",
            "An invoice was funded: investors advanced money against it.",
            {
                1: (
                    Field("trade_id", "int", "`trades.id`"),
                    Field("invoice_id", "int", "`invoices.id` of the funded invoice"),
                    _amount("advance_amount", "the amount advanced"),
                    Field("fee_rate", "decimal", "fee as a fraction", precision=6, scale=4),
                    _CURRENCY,
                )
            },
            "`trades` (at `funded_at`)",
        ),
        EventType(
            "payment_received",
            "A debtor paid (all or part of) a funded invoice.",
            {
                1: (
                    Field("payment_id", "int", "`payments.id`"),
                    Field("trade_id", "int", "`trades.id`"),
                    _amount("amount", "the amount paid"),
                    _CURRENCY,
                    Field("days_late", "int", "days after the due date (≥ 0)"),
                )
            },
            "`payments` (at `paid_at`)",
        ),
    )
}


# ---------------------------------------------------------------------------------------
# events


@dataclass(frozen=True)
class Event:
    """A valid event. ``values`` holds the payload's fields typed (int, str, Decimal, date)."""

    event_id: str
    type: str
    version: int
    occurred_at: dt.datetime  # timezone-aware, UTC
    payload: dict[str, Any]  # as received
    values: dict[str, Any] = field(default_factory=dict, compare=False)

    def envelope(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "version": self.version,
            "occurred_at": format_timestamp(self.occurred_at),
            "payload": self.payload,
        }

    def encode(self) -> bytes:
        return json.dumps(self.envelope(), separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Invalid:
    """A message that is not a valid event. ``kind`` groups reasons for counting."""

    kind: str  # malformed_json | not_an_object | missing_field | bad_field | unknown_type | ...
    reason: str
    event_id: str | None = None
    type: str | None = None


class InvalidEvent(ValueError):
    """Raised by :func:`make_event` when the event would not pass :func:`parse`."""

    def __init__(self, invalid: Invalid):
        super().__init__(invalid.reason)
        self.invalid = invalid


def format_timestamp(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Decimal):
        return "number"
    return {int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def parse(body: bytes | str) -> Event | Invalid:
    """The event in a message body, or why it is not one."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Invalid("malformed_json", f"malformed JSON: not UTF-8 ({exc.reason})")
    else:
        text = body
    try:
        doc = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        return Invalid("malformed_json", f"malformed JSON: {exc}")
    except RecursionError:
        return Invalid("malformed_json", "malformed JSON: nested too deeply")
    if not isinstance(doc, dict):
        return Invalid(
            "not_an_object", f"the envelope must be a JSON object, got {_json_kind(doc)}"
        )
    event_id = doc.get("event_id")
    event_id = event_id if isinstance(event_id, str) else None
    type_name = doc.get("type") if isinstance(doc.get("type"), str) else None
    surrogate = _lone_surrogate(doc)
    if surrogate is not None:
        return Invalid(
            "malformed_json",
            f"invalid Unicode: a lone surrogate (\\u{ord(surrogate):04x}) in a JSON string",
            *(v if _lone_surrogate(v) is None else None for v in (event_id, type_name)),
        )
    missing = [name for name in ENVELOPE_FIELDS if doc.get(name) is None]
    if missing:
        return Invalid(
            "missing_field", f"missing envelope field(s): {', '.join(missing)}", event_id, type_name
        )

    def bad(reason: str, kind: str = "bad_field") -> Invalid:
        return Invalid(kind, reason, event_id, type_name)

    if event_id is None or not event_id.strip() or len(event_id) > MAX_EVENT_ID_LENGTH:
        return bad(f"event_id must be a non-empty string of at most {MAX_EVENT_ID_LENGTH} chars")
    if not event_id.isprintable():
        return bad("event_id must contain printable characters only")
    if type_name is None:
        return bad(f"type must be a string, got {_json_kind(doc['type'])}")
    version = doc["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return bad(f"version must be a positive integer, got {version!r}")
    occurred_at = _timestamp(doc["occurred_at"])
    if isinstance(occurred_at, str):
        return bad(occurred_at)
    payload = doc["payload"]
    if not isinstance(payload, dict):
        return bad(f"payload must be a JSON object, got {_json_kind(payload)}")
    event_type = EVENT_TYPES.get(type_name)
    if event_type is None:
        return bad(
            f"unknown event type {type_name!r} (known: {', '.join(EVENT_TYPES)})", "unknown_type"
        )
    fields = event_type.versions.get(version)
    if fields is None:
        known = ", ".join(map(str, sorted(event_type.versions)))
        return bad(
            f"unknown version {version} of event type {type_name!r} (known: {known})",
            "unknown_version",
        )
    where = f"payload of {type_name} v{version}"
    absent = [f.name for f in fields if payload.get(f.name) is None]
    if absent:
        return bad(f"{where}: missing field(s): {', '.join(absent)}", "missing_field")
    values = {}
    for f in fields:
        value, problem = f.check(payload[f.name])
        if problem:
            return bad(f"{where}: field {f.name!r} {problem}")
        values[f.name] = value
    return Event(event_id, type_name, version, occurred_at, payload, values)


def _timestamp(value: Any) -> dt.datetime | str:
    if not isinstance(value, str):
        return f"occurred_at must be an ISO 8601 timestamp string, got {_json_kind(value)}"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return f"occurred_at is not an ISO 8601 timestamp: {value!r}"
    if parsed.tzinfo is None:
        return f"occurred_at has no time zone (use Z or +00:00): {value!r}"
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        return f"occurred_at is out of range once converted to UTC: {value!r}"


def _lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in any string (key or value) of a parsed JSON document: valid
    JSON escapes (``"\\ud800"``) that no UTF-8 text can hold."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                return found.group()
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain(value: Any) -> Any:
    """A typed payload value as JSON writes it."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def make_event(
    type: str,
    payload: Mapping[str, Any],
    *,
    occurred_at: dt.datetime | None = None,
    event_id: str | None = None,
    version: int | None = None,
) -> Event:
    """A new event (latest version of its type unless given), validated as a consumer would.

    Payload values may be Python types (Decimal, date); they are written as the schema says.
    Raises :class:`InvalidEvent` with the reason if it would be dead-lettered.
    """
    event_type = EVENT_TYPES.get(type)
    envelope = {
        "event_id": event_id or str(uuid.uuid4()),
        "type": type,
        "version": version or (event_type.latest if event_type else 1),
        "occurred_at": format_timestamp(occurred_at or dt.datetime.now(dt.UTC)),
        "payload": {k: _plain(v) for k, v in payload.items()},
    }
    parsed = parse(json.dumps(envelope))
    if isinstance(parsed, Invalid):
        raise InvalidEvent(parsed)
    return parsed


def derived_event_id(*parts: object) -> str:
    """A deterministic event id (uuid5) for an event derived from a source record, so that
    publishing the same record twice produces the same id (and the lake keeps one)."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, ":".join(map(str, parts))))


# ---------------------------------------------------------------------------------------
# the lake's layout of events

ENVELOPE_COLUMNS = [
    pa.field("event_id", pa.string(), nullable=False),
    pa.field("type", pa.string(), nullable=False),
    pa.field("version", pa.int32(), nullable=False),
    pa.field("occurred_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("event_date", pa.date32(), nullable=False),  # the UTC date of occurred_at
    pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
]
PAYLOAD_JSON = pa.field("payload", pa.string(), nullable=False)


def lake_schema(type_name: str) -> pa.Schema:
    """The Arrow schema of ``type_name``'s lake files (every version's fields, nullable)."""
    columns = [pa.field(f.name, f.arrow_type) for f in EVENT_TYPES[type_name].columns()]
    return pa.schema([*ENVELOPE_COLUMNS, *columns, PAYLOAD_JSON])


def _micros(value: dt.datetime) -> int:
    """Microseconds since the epoch (UTC); building Arrow timestamps from ints avoids
    pyarrow's per-value time-zone handling."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_UTC_MICROS = pa.timestamp("us", tz="UTC")


def to_table(type_name: str, events: list[Event], ingested_at: dt.datetime) -> pa.Table:
    """``events`` (all of ``type_name``) as a lake table."""
    schema = lake_schema(type_name)
    fields = EVENT_TYPES[type_name].columns()
    occurred = [_micros(e.occurred_at) for e in events]
    columns = {
        "event_id": [e.event_id for e in events],
        "type": [e.type for e in events],
        "version": [e.version for e in events],
        "occurred_at": pa.array(occurred, pa.int64()).cast(_UTC_MICROS),
        "event_date": pa.array([m // 86_400_000_000 for m in occurred], pa.int32()).cast(
            pa.date32()
        ),
        "ingested_at": pa.array([_micros(ingested_at)] * len(events), pa.int64()).cast(_UTC_MICROS),
        **{f.name: [e.values.get(f.name) for e in events] for f in fields},
        "payload": [payload_json(e) for e in events],
    }
    return pa.Table.from_pydict(columns, schema=schema)


def payload_json(event: Event) -> str:
    """The payload as the lake stores it (column ``payload``)."""
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False, default=str)


def content_digest(type_name: str, version: int, occurred_micros: int, payload: str) -> str:
    """What an event says, apart from its id, as a SHA-256 (hex): the same for a message
    and for its row in the lake, so that a second version of an id is told from a repeat."""
    text = json.dumps([type_name, version, occurred_micros, payload], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def event_digest(event: Event) -> str:
    return content_digest(
        event.type, event.version, _micros(event.occurred_at), payload_json(event)
    )


def table_digests(table: pa.Table) -> list[str]:
    """:func:`content_digest` of each row of a lake table (columns type, version,
    occurred_at, payload)."""
    micros = table.column("occurred_at").cast(pa.int64()).to_pylist()
    return [
        content_digest(t, v, m, p)
        for t, v, m, p in zip(
            table.column("type").to_pylist(),
            table.column("version").to_pylist(),
            micros,
            table.column("payload").to_pylist(),
            strict=True,
        )
    ]
