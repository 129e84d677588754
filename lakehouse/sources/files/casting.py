"""Text columns -> typed columns: Arrow's vectorised cast, value by value only where a value is
bad (DuckDB's ``TRY_CAST``), so each unparsable value becomes NULL and its line can be named."""

import threading

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_thread = threading.local()


def try_cast(text: pa.ChunkedArray, sql_type: str) -> pa.ChunkedArray:
    """DuckDB's ``TRY_CAST``: NULL where a value is unparsable (Arrow's cast fails whole).
    Each parsing thread keeps its connection: connecting costs about as much as the cast."""
    if not hasattr(_thread, "duckdb"):
        _thread.duckdb = duckdb.connect(config={"threads": 1})
        _thread.duckdb.execute("SET TimeZone = 'UTC'")
    con = _thread.duckdb
    con.register("text", pa.table({"v": text}))
    out = con.sql(f"SELECT TRY_CAST(v AS {sql_type}) AS v FROM text").to_arrow_table()
    con.unregister("text")
    return out.column("v")


def cast(text: pa.ChunkedArray, arrow_type: pa.DataType, sql_type: str) -> pa.ChunkedArray:
    """Arrow's cast of a whole column (fast), or value by value where some value is bad."""
    try:
        return text.cast(arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        value = try_cast(text, sql_type)
    try:
        return value.cast(arrow_type)
    except pa.ArrowInvalid:  # finer than the type holds (a time in microseconds): unparsable
        cut = value.cast(arrow_type, safe=False)
        return pc.if_else(pc.equal(cut.cast(value.type), value), cut, None)


def failed(text: pa.ChunkedArray, converted: pa.ChunkedArray) -> np.ndarray | None:
    """Rows whose text is there but did not convert (None if there is none: the usual case)."""
    if converted.null_count == text.null_count:
        return None
    return pc.and_(pc.is_valid(text), pc.is_null(converted)).to_numpy(zero_copy_only=False)
