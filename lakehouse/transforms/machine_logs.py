"""Machine logs: raw file bytes -> one typed table (plus the rejected lines), and the KPI SQL.

Parsing is per file and has two paths that give the same result:

- **fast** (nearly every file): Arrow's multithreaded-capable C++ CSV reader with explicit
  types for the format (delimiter, timestamp notation, decimal mark, pass/fail codes), then
  a few vectorised checks. Any problem at all (wrong field count, unparsable value, unknown
  event code, missing required field) sends the file to the exact path.
- **exact**: the file is split into lines in Python; each line is checked for its field count,
  then every field is converted with DuckDB's ``TRY_`` functions, so each bad line is rejected
  with its line number and the first reason that applies, and every good line is kept.

Format quirks handled on both paths: gzip (detected by content, concatenated members too, a
truncated stream salvaged), UTF-8 BOM, CRLF, header line, and a last line without line ending
(a machine cut off mid-write), which is rejected as truncated. Files that can't be parsed at
all (empty, unknown machine type, unreadable gzip) are rejected as a whole; the caller
quarantines them. Nothing is dropped silently: ``accepted + rejected == lines`` per file.
"""

import re
import zlib
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lakehouse.sources.machines.formats import BY_PREFIX, EVENTS, FORMATS, MachineFormat
from lakehouse.sources.machines.formats import parse_file_name as _parse_name

PARSED_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("machine_type", pa.string()),
        ("machine_id", pa.string()),
        ("station_id", pa.string()),
        ("event", pa.string()),
        ("serial", pa.string()),
        ("step", pa.string()),
        ("attempt", pa.int16()),
        ("passed", pa.bool_()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("units", pa.int32()),
        ("cycle_s", pa.float64()),
        ("alarm", pa.string()),
        ("file", pa.string()),
        ("line", pa.int32()),
    ]
)
REJECTED_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("line", pa.int32()),  # physical line number (header included), 0 = the whole file
        ("reason", pa.string()),
        ("text", pa.string()),  # the line as written (first 1,000 characters)
        ("machine_type", pa.string()),
        ("machine_id", pa.string()),
        ("wave_start", pa.timestamp("ms", tz="UTC")),
    ]
)
_TYPES = {f.name: f.type for f in PARSED_SCHEMA}
_REQUIRED = ("ts", "machine_id", "station_id", "event")
_BOM = b"\xef\xbb\xbf"
MAX_TEXT = 1000


@dataclass
class ParsedFile:
    name: str
    table: pa.Table  # PARSED_SCHEMA
    rejected: pa.Table  # REJECTED_SCHEMA
    lines: int  # data lines in the file (header excluded; the truncated last line included)
    exact: bool  # the exact path was needed
    file_problem: str | None = None  # the whole file was rejected: why (quarantine it)
    uncompressed_bytes: int = 0

    @property
    def accounted(self) -> bool:
        """Every line is either accepted or rejected (a whole-file rejection counts once)."""
        expected = max(self.lines, 1) if self.file_problem else self.lines
        return self.table.num_rows + self.rejected.num_rows == expected


def empty_parsed() -> pa.Table:
    return PARSED_SCHEMA.empty_table()


def _rejected(
    name: str, rows: list[tuple[int, str, str]], machine_type, machine_id, wave: datetime | None
) -> pa.Table:
    n = len(rows)
    lines, reasons, texts = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    return pa.table(
        [
            pa.array([name] * n, pa.string()),
            pa.array(lines, pa.int32()),
            pa.array(reasons, pa.string()),
            pa.array([t[:MAX_TEXT] for t in texts], pa.string()),
            pa.array([machine_type] * n, pa.string()),
            pa.array([machine_id] * n, pa.string()),
            pa.array([wave] * n, pa.timestamp("ms", tz="UTC")),
        ],
        schema=REJECTED_SCHEMA,
    )


def decompress(data: bytes) -> tuple[bytes, str | None]:
    """Gunzip ``data`` if it is gzip (by its magic bytes), all members; salvage a truncated
    stream. Returns (bytes, problem): problem is set when nothing usable could be read."""
    if not data.startswith(b"\x1f\x8b"):
        return data, None
    parts, rest = [], data
    try:
        while rest:
            d = zlib.decompressobj(wbits=31)
            parts.append(d.decompress(rest))
            if not d.eof:  # cut off mid-write: keep what was written (its last line is partial)
                break
            rest = d.unused_data
            if rest and not rest.startswith(b"\x1f\x8b"):
                break  # trailing garbage after the last member
    except zlib.error as exc:
        if not any(parts):
            return b"", f"unreadable gzip: {exc}"
    out = b"".join(parts)
    if not out:
        return b"", "unreadable gzip: the stream ends before any data"
    return out, None


def _column_types(fmt: MachineFormat) -> dict[str, pa.DataType]:
    types = {}
    for name in fmt.columns:
        if name == "ts":
            types[name] = {
                "iso_z": pa.timestamp("ms", tz="UTC"),
                "iso_naive": pa.timestamp("ms"),
                "strptime": pa.timestamp("s"),
                "epoch_ms": pa.int64(),
            }[fmt.ts_kind]
        elif name == "result":
            types[name] = pa.bool_()
        else:
            types[name] = _TYPES[name]
    return types


def _to_utc_ms(ts: pa.ChunkedArray, fmt: MachineFormat) -> pa.ChunkedArray:
    if fmt.ts_kind == "epoch_ms":
        return ts.cast(pa.timestamp("ms", tz="UTC"))
    if fmt.ts_kind in ("iso_naive", "strptime"):  # written in UTC without a zone
        ts = ts.cast(pa.timestamp(ts.type.unit, tz="UTC"))
    return ts.cast(pa.timestamp("ms", tz="UTC"))


def _read(body: pa.Buffer, fmt: MachineFormat, types: dict, bad: list, first_line: int):
    """Arrow's CSV reader; lines with the wrong field count go to ``bad`` with their number."""

    def wrong_field_count(row) -> str:
        text = (row.text or "").removesuffix("\r")
        n = len(fmt.columns)
        reason = "empty line" if not text else f"expected {n} fields, found {row.actual_columns}"
        bad.append((row.number + first_line - 1, reason, text))
        return "skip"

    return pacsv.read_csv(
        pa.BufferReader(body),
        read_options=pacsv.ReadOptions(
            column_names=list(fmt.columns), use_threads=False, block_size=8 << 20
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=fmt.delimiter,
            quote_char=False,
            double_quote=False,
            escape_char=False,
            ignore_empty_lines=False,
            invalid_row_handler=wrong_field_count,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            true_values=[fmt.results[0]],
            false_values=[fmt.results[1]],
            decimal_point="," if fmt.decimal_comma else ".",
            timestamp_parsers=[fmt.ts_format] if fmt.ts_kind == "strptime" else None,
        ),
    )


_COLUMN_ERROR = re.compile(r"In CSV column #(\d+)")


def _read_typed(body: pa.Buffer, fmt: MachineFormat, bad: list, first_line: int):
    """The typed read; a column with an unparsable field is re-read as text (then converted
    value by value below), so one bad field never costs more than a re-read of the file."""
    types, as_text = _column_types(fmt), []
    while True:
        bad.clear()
        try:
            return _read(body, fmt, types, bad, first_line), as_text
        except pa.ArrowInvalid as exc:
            match = _COLUMN_ERROR.search(str(exc))
            column = fmt.columns[int(match[1])] if match else None
            if column is None or column in as_text:
                raise
            types[column] = pa.string()
            as_text.append(column)


def _try_convert(fmt: MachineFormat, text: pa.Table) -> pa.Table:
    """DuckDB's TRY_ conversions of text columns: NULL where a value is unparsable."""
    num = "replace({c}, ',', '.')" if fmt.decimal_comma else "{c}"
    sql = {
        "ts": "epoch_ms("
        + {
            "iso_z": "TRY_CAST(ts AS TIMESTAMPTZ)",
            "iso_naive": "TRY_CAST(ts AS TIMESTAMP)",
            "strptime": f"try_strptime(ts, '{fmt.ts_format}')",
            "epoch_ms": "make_timestamp(TRY_CAST(ts AS BIGINT) * 1000)",
        }[fmt.ts_kind]
        + ")",
        "attempt": "TRY_CAST(attempt AS SMALLINT)",
        "result": f"CASE result WHEN '{fmt.results[0]}' THEN true "
        f"WHEN '{fmt.results[1]}' THEN false END",
        "value": f"TRY_CAST({num.format(c='value')} AS DOUBLE)",
        "units": "TRY_CAST(units AS INTEGER)",
        "cycle_s": f"TRY_CAST({num.format(c='cycle_s')} AS DOUBLE)",
    }
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("text", text)
    select = ", ".join(f"{sql[c]} AS {c}" for c in text.column_names)
    converted = con.sql(f"SELECT {select} FROM text").to_arrow_table()
    con.close()
    return converted


def _line_numbers(first_line: int, rows: int, bad: list) -> np.ndarray:
    """Physical line numbers of the ``rows`` rows read, the ``bad`` lines being skipped."""
    numbers = np.arange(first_line, first_line + rows + len(bad), dtype=np.int32)
    if bad:
        numbers = numbers[~np.isin(numbers, [number for number, _, _ in bad])]
    return numbers


def _line_texts(body: pa.Buffer, first_line: int, numbers: list[int]) -> dict[int, str]:
    """The text of a few lines of ``body``, by line number."""
    raw = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(raw == 0x0A)
    starts = np.concatenate(([0], ends + 1))
    texts = {}
    for number in numbers:
        i = number - first_line
        line = bytes(body[int(starts[i]) : int(ends[i])]) if i < len(ends) else b""
        texts[number] = line.decode("utf-8", errors="replace").removesuffix("\r")
    return texts


def _parse_body(
    body: pa.Buffer, fmt: MachineFormat, name: str, first_line: int, bad: list
) -> tuple[pa.Table, bool]:
    """Typed rows of ``body`` (PARSED_SCHEMA) and whether a slower path was needed; each
    rejected line goes to ``bad`` as (line number, reason, text)."""
    table, as_text = _read_typed(body, fmt, bad, first_line)
    lines = _line_numbers(first_line, table.num_rows, bad)
    n = table.num_rows
    reasons: dict[int, str] = {}  # row index -> first reason that applies

    def reject(mask, reason) -> None:
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            reasons.setdefault(int(i), reason(int(i)) if callable(reason) else reason)

    nulls = {c: pc.is_null(table.column(c)).to_numpy(zero_copy_only=False) for c in fmt.columns}
    if n and any(nulls[c].any() for c in _REQUIRED):
        reject(np.logical_and.reduce([nulls[c] for c in fmt.columns]), "empty line")
        for column in _REQUIRED:
            reject(nulls[column], f"missing {column}")
    columns = {c: table.column(c) for c in fmt.columns}
    if as_text:
        converted = _try_convert(fmt, table.select(as_text))
        for column in as_text:
            raw, value = columns[column], converted.column(column)
            failed = pc.and_(pc.is_valid(raw), pc.is_null(value)).to_numpy(zero_copy_only=False)
            what = "unknown result code" if column == "result" else f"unparsable {column}"
            reject(failed, lambda i, raw=raw, what=what: f"{what} {raw[i].as_py()!r}")
            columns[column] = value
    codes = [fmt.events[e] for e in EVENTS]
    index = pc.index_in(columns["event"], value_set=pa.array(codes))
    if index.null_count > columns["event"].null_count:
        unknown = pc.and_(pc.is_valid(columns["event"]), pc.is_null(index))
        event = columns["event"]
        reject(
            unknown.to_numpy(zero_copy_only=False),
            lambda i: f"unknown event code {event[i].as_py()!r}",
        )
    columns["event"] = pa.array(EVENTS).take(index)
    ts = columns["ts"]
    columns["ts"] = (
        ts.cast(pa.timestamp("ms", tz="UTC")) if "ts" in as_text else _to_utc_ms(ts, fmt)
    )
    typed = pa.table(columns)
    if reasons:
        rows = sorted(reasons)
        texts = _line_texts(body, first_line, [int(lines[i]) for i in rows])
        bad.extend((int(lines[i]), reasons[i], texts[int(lines[i])]) for i in rows)
        keep = np.ones(n, dtype=bool)
        keep[rows] = False
        typed, lines = typed.filter(pa.array(keep)), lines[keep]
    return _finish(typed, fmt, name, pa.array(lines)), bool(as_text or reasons)


def _finish(table: pa.Table, fmt: MachineFormat, name: str, lines) -> pa.Table:
    """Canonical columns (``ts`` in UTC ms, ``result`` as ``passed``) -> PARSED_SCHEMA."""
    n = table.num_rows
    columns = {c: table.column(c) for c in table.column_names}
    columns["passed"] = columns.pop("result")
    columns["machine_type"] = pa.array([fmt.type] * n if n < 2 else pa.repeat(fmt.type, n))
    columns["file"] = pa.array([name] * n if n < 2 else pa.repeat(name, n))
    columns["line"] = lines
    return pa.table([columns[f.name].cast(f.type) for f in PARSED_SCHEMA], schema=PARSED_SCHEMA)


def parse_bytes(data: bytes, name: str, wave_start: datetime | None = None) -> ParsedFile:
    """Parse one machine-log file (its bytes as landed) named ``name``."""
    meta = _parse_name(name)
    prefix = name.rsplit("/", 1)[-1].split("-", 1)[0].split("_", 1)[0]
    machine_type = meta.type or (prefix.lower() if meta.machine_id else "unknown")

    def whole_file(reason: str, body: bytes) -> ParsedFile:
        text = body.decode("utf-8", errors="replace").removeprefix("\ufeff")
        lines = text.splitlines()
        rows = [(i, reason, line) for i, line in enumerate(lines, start=1)] or [(0, reason, "")]
        rejected = _rejected(name, rows, machine_type, meta.machine_id, wave_start)
        return ParsedFile(name, empty_parsed(), rejected, len(lines), True, reason, len(body))

    data, problem = decompress(data)
    if problem:
        return whole_file(problem, b"")
    if not data:
        return whole_file("empty file", b"")
    if meta.type is None:
        if meta.machine_id:
            known = ", ".join(BY_PREFIX)
            reason = f"unknown machine type {prefix!r} (known: {known})"
        else:
            reason = "file name is not <MACHINE>-<NNNN>_<YYYYMMDDTHHMMSS><extension>"
        return whole_file(reason, data)
    fmt = FORMATS[meta.type]
    start, end = (len(_BOM) if data.startswith(_BOM) else 0), len(data)
    first_line = 1
    if fmt.header:
        newline = data.find(b"\n", start, start + 4096)
        header = fmt.delimiter.join(fmt.header).encode()
        if newline >= 0 and data[start:newline].removesuffix(b"\r") == header:
            start, first_line = newline + 1, 2
    rejected: list[tuple[int, str, str]] = []
    lines = data.count(b"\n", start, end)
    if end > start and data[end - 1] != 0x0A:  # no line ending: cut off mid-write
        last = max(data.rfind(b"\n", start, end) + 1, start)
        partial = data[last:end].decode("utf-8", errors="replace").removesuffix("\r")
        rejected.append((first_line + lines, "truncated last line (no line ending)", partial))
        end = last
        lines += 1
    body = pa.py_buffer(data).slice(start, end - start)
    bad: list[tuple[int, str, str]] = []
    table, exact = (
        _parse_body(body, fmt, name, first_line, bad) if end > start else (empty_parsed(), False)
    )
    rejected = sorted(bad) + rejected
    return ParsedFile(
        name,
        table,
        _rejected(name, rejected, fmt.type, meta.machine_id, wave_start),
        lines,
        exact,
        uncompressed_bytes=len(data),
    )


# -- KPIs -------------------------------------------------------------------------------------

KPI_COLUMNS = (
    "lines",
    "rejected_lines",
    "tests_run",
    "first_attempts",
    "first_attempt_passes",
    "first_pass_yield",
    "units_produced",
    "cycle_time_p50_s",
    "cycle_time_p95_s",
    "alarms",
)


def kpi_sql(parsed: str, rejected: str | None, grain: str) -> str:
    """KPIs per machine type, machine, station and ``grain`` (``hour`` or ``day``).

    ``parsed``/``rejected`` are DuckDB table expressions (``read_parquet([...])``). Rejected
    lines count on their file's machine, with no station, at the start of the file's wave
    (hour grain) or its day. First-pass yield: of the test steps' first attempts
    (``attempt = 1``), the share that passed. Cycle time percentiles are exact
    (``quantile_cont``, linear interpolation) over the PROD events' ``cycle_s``.
    """
    assert grain in ("hour", "day")
    rejected_part = (
        f"""
        UNION ALL BY NAME
        SELECT machine_type, machine_id, NULL::VARCHAR AS station_id,
               date_trunc('{grain}', wave_start) AS {grain}, count(*) AS rejected_lines
        FROM {rejected} GROUP BY ALL"""
        if rejected
        else ""
    )
    return f"""
        WITH accepted AS (
            SELECT machine_type, machine_id, station_id, date_trunc('{grain}', ts) AS {grain},
                count(*) AS lines,
                count(*) FILTER (WHERE event = 'TEST') AS tests_run,
                count(*) FILTER (WHERE event = 'TEST' AND attempt = 1) AS first_attempts,
                count(*) FILTER (WHERE event = 'TEST' AND attempt = 1 AND passed)
                    AS first_attempt_passes,
                sum(units) FILTER (WHERE event = 'PROD') AS units_produced,
                quantile_cont(cycle_s, 0.5) FILTER (WHERE event = 'PROD') AS cycle_time_p50_s,
                quantile_cont(cycle_s, 0.95) FILTER (WHERE event = 'PROD') AS cycle_time_p95_s,
                count(*) FILTER (WHERE event = 'ALARM') AS alarms
            FROM {parsed} GROUP BY ALL
        ),
        together AS (SELECT * FROM accepted {rejected_part})
        SELECT machine_type, machine_id, station_id, {grain},
            coalesce(sum(lines), 0)::BIGINT AS lines,
            coalesce(sum(rejected_lines), 0)::BIGINT AS rejected_lines,
            coalesce(sum(tests_run), 0)::BIGINT AS tests_run,
            coalesce(sum(first_attempts), 0)::BIGINT AS first_attempts,
            coalesce(sum(first_attempt_passes), 0)::BIGINT AS first_attempt_passes,
            sum(first_attempt_passes) / nullif(sum(first_attempts), 0) AS first_pass_yield,
            coalesce(sum(units_produced), 0)::BIGINT AS units_produced,
            max(cycle_time_p50_s) AS cycle_time_p50_s,
            max(cycle_time_p95_s) AS cycle_time_p95_s,
            coalesce(sum(alarms), 0)::BIGINT AS alarms
        FROM together
        GROUP BY ALL
        ORDER BY machine_type, machine_id, station_id NULLS LAST, {grain}
    """


def kpi_connection(memory_limit: str = "1GB", threads: int = 2) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET threads = {int(threads)}")
    return con
