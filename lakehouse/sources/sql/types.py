"""Database column types -> exact Arrow types, and which type changes widen safely."""

import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.sql.sqltypes import _AbstractInterval  # sa.Interval and the native ones

MAX_DECIMAL128 = 38


def arrow_type(column_type: sa.types.TypeEngine) -> pa.DataType:
    """The Arrow type holding every value of ``column_type`` exactly.

    Integers of any width -> int64; decimals with precision -> decimal(p, s) (a numeric
    without precision -> string, its exact text); floats -> float64; text, enums, JSON and
    UUID -> string; binary -> binary; booleans -> bool; date -> date32; time -> time64[us];
    timestamps -> timestamp[us] (with time zone: timestamp[us, UTC]); intervals ->
    duration[us]. Anything else is kept as its text.
    """
    t = column_type
    if isinstance(t, sa.Boolean):
        return pa.bool_()
    if isinstance(t, sa.Integer):
        return pa.int64()
    if isinstance(t, sa.Float):
        return pa.float64()
    if isinstance(t, sa.Numeric):
        if t.precision is None:
            return pa.string()
        scale = t.scale or 0
        if t.precision <= MAX_DECIMAL128:
            return pa.decimal128(t.precision, scale)
        return pa.decimal256(t.precision, scale)
    if isinstance(t, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if t.timezone else None)
    if isinstance(t, sa.Date):
        return pa.date32()
    if isinstance(t, sa.Time):
        return pa.time64("us")
    if isinstance(t, _AbstractInterval):
        return pa.duration("us")
    if isinstance(t, sa.types._Binary):
        return pa.binary()
    return pa.string()


def converter(column_type: sa.types.TypeEngine, target: pa.DataType) -> Callable[[Any], Any]:
    """A function turning a raw driver value into one ``pa.array(..., type=target)`` accepts.

    Values are read raw (no SQLAlchemy result processing), so a value a loosely typed database
    holds against its declared type (SQLite: text in a NUMERIC column) reaches this function
    and fails here, for that value only, instead of failing the whole read."""
    if target == pa.string():
        if isinstance(column_type, sa.JSON):
            return lambda v: v if v is None or isinstance(v, str) else json.dumps(v, sort_keys=True)
        return lambda v: v if v is None or isinstance(v, str) else _text(v)
    if pa.types.is_timestamp(target):
        return _timestamp
    if pa.types.is_date(target):
        return lambda v: date.fromisoformat(v[:10]) if isinstance(v, str) else v
    if pa.types.is_time(target):  # MySQL drivers return TIME as a timedelta, SQLite as text
        return _time
    if pa.types.is_decimal(target):
        return _decimal
    if target == pa.bool_():
        return lambda v: bool(v) if isinstance(v, int) else v
    if target == pa.binary():
        return lambda v: bytes(v) if isinstance(v, memoryview | bytearray) else v
    return _identity


def _identity(value: Any) -> Any:
    return value


def _timestamp(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _time(value: Any) -> Any:
    if isinstance(value, timedelta):
        return (datetime.min + value).time()
    return time.fromisoformat(value) if isinstance(value, str) else value


def _decimal(value: Any) -> Any:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"{value!r} is not a number") from exc


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def widens(old: pa.DataType, new: pa.DataType) -> bool:
    """Whether every value of ``old`` is exactly a value of ``new`` (a safe type change)."""
    if old == new or _family(old) == _family(new) != "other":
        return True
    if pa.types.is_integer(old) and pa.types.is_decimal(new):
        return new.precision - new.scale >= 19
    if pa.types.is_decimal(old) and pa.types.is_decimal(new):
        return new.scale >= old.scale and new.precision - new.scale >= old.precision - old.scale
    if pa.types.is_integer(old) and pa.types.is_integer(new):
        return new.bit_width >= old.bit_width
    if pa.types.is_date(old) and pa.types.is_timestamp(new):
        return new.tz is None
    return False


def _family(t: pa.DataType) -> str:
    """Types that differ only in representation (string/large_string, time zone names)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}, {'tz' if t.tz else 'naive'}]"
    return "other"
