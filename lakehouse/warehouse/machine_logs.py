"""Machine logs: raw file bytes -> one typed table (plus the rejected lines), and the KPI SQL.

Parsing is per file, in chunks of whole lines (``CHUNK_BYTES``), each read once by Arrow's C++
CSV reader straight into typed columns (lines with the wrong field count are rejected by
number as they are met). A chunk holding a value to reject (unparsable, unknown code, missing)
is read again as text: each typed column converted by a vectorised cast, and only a column
with a bad value converted value by value (DuckDB's ``TRY_CAST``), so each bad line is
rejected with its line number and the first reason that applies, and every good line is kept.

Format quirks handled: gzip (as the format says; concatenated members, a truncated stream
salvaged, an unreadable tail rejected, decompression bounded), UTF-8 BOM, CRLF, header line,
lines that are not UTF-8, and a last line without line ending (a machine cut off mid-write),
which is rejected as truncated. Files that can't be parsed at
all (empty, unknown machine type, unreadable gzip) are rejected as a whole; the caller
quarantines them. Nothing is dropped silently: ``accepted + rejected == lines`` per file.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from isal import isal_zlib

from lakehouse.sources.files.casting import cast as _cast
from lakehouse.sources.files.casting import failed as _failed
from lakehouse.sources.files.parsed import MAX_TEXT, ParsedFile
from lakehouse.sources.machines.formats import (
    EVENTS,
    FORMATS,
    WAVE_HOURS,
    MachineFormat,
)
from lakehouse.sources.machines.formats import parse_file_name as _parse_name

_CODE = pa.dictionary(pa.int32(), pa.string())  # few distinct values: dictionary-encoded
PARSED_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("machine_type", _CODE),
        ("machine_id", pa.string()),
        ("station_id", pa.string()),
        ("event", _CODE),
        ("serial", pa.string()),
        ("step", pa.string()),
        ("attempt", pa.int16()),
        ("passed", pa.bool_()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("units", pa.int32()),
        ("cycle_s", pa.float64()),
        ("alarm", pa.string()),
        ("file", _CODE),
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
_GZIP = b"\x1f\x8b"
# Decompression is bounded: a gzip file inflating beyond this many times its size, or beyond
# MAX_UNCOMPRESSED_BYTES, is rejected whole before it can take the memory (a gzip bomb).
MAX_GZIP_RATIO = 100
MAX_UNCOMPRESSED_BYTES = 1 << 30
# A line's time may lie this far outside its file's wave (machine clocks drift); further out
# (a clock set to 2099) it is rejected: it would make a KPI hour of its own.
MAX_CLOCK_SKEW = timedelta(hours=1)


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


def decompress(data: bytes) -> tuple[bytes, str | None, str | None]:
    """Gunzip every member of ``data``, bounded (``MAX_GZIP_RATIO``, ``MAX_UNCOMPRESSED_BYTES``);
    a stream cut off mid-write is read up to the cut. Returns (bytes, file problem: nothing
    usable, tail problem: what follows the readable members cannot be read). ISA-L's inflate
    (zlib's API) is 2-3x faster than zlib's on these files."""
    limit = min(len(data) * MAX_GZIP_RATIO, MAX_UNCOMPRESSED_BYTES)
    parts, rest, size, tail = [], data, 0, None
    while rest:
        d = isal_zlib.decompressobj(wbits=31)
        try:
            out = d.decompress(rest, limit - size + 1)
        except isal_zlib.error as exc:
            if not size:
                return b"", f"unreadable gzip: {exc}", None
            tail = f"unreadable gzip from byte {len(data) - len(rest)}: {exc}"
            break
        size += len(out)
        if size > limit:
            return b"", f"gzip inflates beyond {limit} bytes (refused: gzip bomb?)", None
        parts.append(out)
        if not d.eof:  # cut off mid-write: keep what was written (its last line is partial)
            break
        rest = d.unused_data
        if rest and not rest.startswith(_GZIP):
            tail = f"{len(rest)} bytes after the last gzip member are not gzip"
            break
    if not size:
        return b"", "unreadable gzip: the stream ends before any data", None
    return b"".join(parts), None, tail


def _read(
    body: pa.Buffer,
    fmt: MachineFormat,
    bad: list,
    first_line: int,
    typed: bool,
    skip: frozenset[int] = frozenset(),
) -> pa.Table:
    """One pass of Arrow's CSV reader (empty = null): every field as text, or ``typed`` (each
    column straight to its type: raises ``ArrowInvalid`` on the first unparsable value). Lines
    with the wrong field count go to ``bad`` with their number; those in ``skip`` (rejected
    already) are left out."""

    def wrong_field_count(row) -> str:
        if row.number in skip:
            return "skip"
        text = (row.text or "").removesuffix("\r")
        n = len(fmt.columns)
        reason = "empty line" if not text else f"expected {n} fields, found {row.actual_columns}"
        bad.append((row.number + first_line - 1, reason, text))
        return "skip"

    types = {c: pa.string() for c in fmt.columns}
    options = {}
    if typed:
        types.update({c: _TYPES[c] for c in ("attempt", "value", "units", "cycle_s")})
        types["result"] = pa.bool_()
        types["ts"] = _TS_READ[fmt.ts_kind]
        options = {
            "timestamp_parsers": [pacsv.ISO8601],
            "decimal_point": "," if fmt.decimal_comma else ".",
            "true_values": [fmt.results[0]],
            "false_values": [fmt.results[1]],
        }
    return pacsv.read_csv(
        pa.BufferReader(body),
        read_options=pacsv.ReadOptions(
            column_names=list(fmt.columns), use_threads=False, block_size=max(body.size, 1)
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
            column_types=types, null_values=[""], strings_can_be_null=True, **options
        ),
    )


_TS_READ = {  # how the typed read takes each timestamp notation (then ``_utc``)
    "iso_z": pa.timestamp("ms", tz="UTC"),
    "iso_naive": pa.timestamp("ms"),
    "strptime": pa.string(),  # strptime rolls 31.11. over to 01.12.: checked by ``_strptime``
    "epoch_ms": pa.int64(),
}


def _strptime(text: pa.ChunkedArray, fmt: MachineFormat) -> pa.ChunkedArray:
    """``fmt.ts_format`` -> UTC seconds, NULL where unparsable or the date does not exist
    (strptime rolls 31.11. over to 01.12.: the day it read must be the day it made)."""
    parsed = pc.strptime(text, format=fmt.ts_format, unit="s", error_is_null=True)
    day_at = len(datetime(2001, 1, 1).strftime(fmt.ts_format.split("%d")[0]))
    day = pc.utf8_slice_codeunits(text, day_at, day_at + 2)
    real = pc.equal(pc.utf8_lpad(pc.cast(pc.day(parsed), pa.string()), 2, "0"), day)
    return pc.if_else(real, parsed, None).cast(pa.timestamp("s", tz="UTC"))


def _utc(ts: pa.ChunkedArray, fmt: MachineFormat) -> pa.ChunkedArray:
    """A typed read's time column -> UTC milliseconds (zone-less notations are UTC)."""
    if fmt.ts_kind == "strptime":
        ts = _strptime(ts, fmt)
    if pa.types.is_timestamp(ts.type) and ts.type.tz is None:
        ts = ts.cast(pa.timestamp(ts.type.unit, tz="UTC"))
    return ts.cast(pa.timestamp("ms", tz="UTC"))


def _timestamps(text: pa.ChunkedArray, fmt: MachineFormat) -> pa.ChunkedArray:
    """The format's timestamp notation -> UTC milliseconds (NULL where unparsable)."""
    utc = pa.timestamp("ms", tz="UTC")
    if fmt.ts_kind == "strptime":  # written in UTC without a zone
        return _strptime(text, fmt).cast(utc)
    if fmt.ts_kind == "epoch_ms":
        return _cast(text, pa.int64(), "BIGINT").cast(utc)
    if fmt.ts_kind == "iso_naive":  # UTC without a zone (DuckDB would drop one: unparsable)
        zoned = pc.match_substring_regex(text, r"\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d(:?\d\d)?)$")
        text = pc.if_else(pc.fill_null(zoned, False), None, text)
        return _cast(text, pa.timestamp("ms"), "TIMESTAMP").cast(utc)
    return _cast(text, utc, "TIMESTAMPTZ")


def _numbers(text: pa.ChunkedArray, fmt: MachineFormat, name: str) -> pa.ChunkedArray:
    if fmt.decimal_comma and _TYPES[name] == pa.float64():
        text = pc.replace_substring(text, ",", ".")
    sql_type = {pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.float64(): "DOUBLE"}
    return _cast(text, _TYPES[name], sql_type[_TYPES[name]])


def _codes(text: pa.ChunkedArray, codes: list[str]) -> pa.ChunkedArray:
    """Index of each value in ``codes`` (NULL if it is none of them)."""
    return pc.index_in(text, value_set=pa.array(codes))


def _line_numbers(first_line: int, rows: int, bad: list) -> np.ndarray:
    """Physical line numbers of the ``rows`` rows read, the ``bad`` lines being skipped."""
    numbers = np.arange(first_line, first_line + rows + len(bad), dtype=np.int32)
    if bad:
        numbers = numbers[~np.isin(numbers, [number for number, _, _ in bad])]
    return numbers


CHUNK_BYTES = 2 << 20  # lines parsed at once: a value to reject re-parses its chunk only


def _chunks(data: bytes, start: int, end: int, first_line: int) -> Iterator[tuple[pa.Buffer, int]]:
    """``data[start:end]`` (whole lines) in slices of about ``CHUNK_BYTES``, each with the
    number of its first line."""
    buffer = pa.py_buffer(data)
    while start < end:
        cut = data.find(b"\n", min(start + CHUNK_BYTES, end - 1), end) + 1 or end
        yield buffer.slice(start, cut - start), first_line
        first_line += data.count(b"\n", start, cut)
        start = cut


def _events(index: pa.ChunkedArray) -> pa.ChunkedArray:
    """Indexes into ``EVENTS`` -> the canonical event, dictionary-encoded."""
    return pa.chunked_array(
        [pa.DictionaryArray.from_arrays(chunk, list(EVENTS)) for chunk in index.chunks],
        _TYPES["event"],
    )


Window = tuple[datetime, datetime] | None  # the times a line may carry (None: any)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _outside(ts: pa.ChunkedArray, window: Window) -> pa.ChunkedArray | None:
    """Rows whose time lies outside ``window`` (None if every time is inside: the usual case)."""
    if window is None or not len(ts):
        return None
    bounds = pc.min_max(ts)
    low, high = (pa.scalar(w, ts.type) for w in window)
    if bounds["min"].as_py() is None or (
        bounds["min"].as_py() >= low.as_py() and bounds["max"].as_py() <= high.as_py()
    ):
        return None
    return pc.or_(pc.less(ts, low), pc.greater(ts, high))


def _parse_typed(
    chunk: pa.Buffer, fmt: MachineFormat, first_line: int, bad: list, window: Window
) -> pa.Table:
    """The fast path: every column read straight to its type. Raises ``ArrowInvalid`` (or
    ``_NeedsText``) if some line must be rejected for a value: ``_parse_text`` then names it."""
    table = _read(chunk, fmt, bad, first_line, typed=True)
    index = _codes(table.column("event"), [fmt.events[e] for e in EVENTS])
    if index.null_count or any(table.column(c).null_count for c in _REQUIRED):
        raise _NeedsText
    columns = {c: table.column(c) for c in fmt.columns}
    columns["ts"], columns["event"] = _utc(columns["ts"], fmt), _events(index)
    if columns["ts"].null_count or _outside(columns["ts"], window) is not None:
        raise _NeedsText  # an impossible date, or a time outside the window
    columns["line"] = pa.array(_line_numbers(first_line, table.num_rows, bad))
    return pa.table(columns)


class _NeedsText(Exception):
    """A chunk holds a value to reject: parse it as text, field by field."""


def _without_bad_utf8(
    chunk: pa.Buffer, first_line: int, bad: list
) -> tuple[pa.Buffer, frozenset[int]]:
    """Reject (to ``bad``) the lines of ``chunk`` that are not UTF-8, each replaced by a line
    the reader leaves out: the chunk, and those lines' numbers in it (from 1)."""
    data = chunk.to_pybytes()
    try:
        data.decode("utf-8")
        return chunk, frozenset()  # the usual case: one pass of the decoder
    except UnicodeDecodeError:
        pass
    lines = data.split(b"\n")
    skip = set()
    for i, line in enumerate(lines):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = line.removesuffix(b"\r").decode("utf-8", errors="backslashreplace")
            bad.append((first_line + i, f"not UTF-8 (byte {exc.start + 1} of the line)", text))
            lines[i] = b" "
            skip.add(i + 1)
    return pa.py_buffer(b"\n".join(lines)), frozenset(skip)


def _parse_text(
    chunk: pa.Buffer, fmt: MachineFormat, first_line: int, bad: list, window: Window
) -> pa.Table:
    """Every field as text, then each typed column converted at once; only a column with an
    unparsable value is converted value by value, so each bad line is rejected (to ``bad``)
    with the first reason that applies and its text as written."""
    chunk, skip = _without_bad_utf8(chunk, first_line, bad)  # Arrow's text must be UTF-8
    text = _read(chunk, fmt, bad, first_line, typed=False, skip=skip)
    n = text.num_rows
    lines = _line_numbers(first_line, n, bad)
    written = chunk.to_pybytes().split(b"\n")  # the lines as written, for rejected ones

    def as_written(i: int) -> str:
        return written[lines[i] - first_line].removesuffix(b"\r").decode("utf-8")

    columns = {c: text.column(c) for c in fmt.columns}
    checks: list[tuple[np.ndarray, object]] = []  # (rows, reason), first that applies wins
    if any(columns[c].null_count for c in _REQUIRED):
        nulls = {c: pc.is_null(columns[c]).to_numpy(zero_copy_only=False) for c in fmt.columns}
        empty = np.zeros(n, dtype=bool)  # every field empty: a line of delimiters is not empty
        for i in np.flatnonzero(np.logical_and.reduce(list(nulls.values()))):
            empty[i] = not as_written(int(i))
        checks.append((empty, "empty line"))
        checks.extend((nulls[c], f"missing {c}") for c in _REQUIRED)
    for column in fmt.columns:
        raw = columns[column]
        if column == "ts":
            columns[column] = _timestamps(raw, fmt)
        elif column in ("attempt", "value", "units", "cycle_s"):
            columns[column] = _numbers(raw, fmt, column)
        elif column == "result":
            columns[column] = pc.equal(_codes(raw, list(fmt.results)), 0)
        else:
            continue
        what = "unknown result code" if column == "result" else f"unparsable {column}"
        failed = _failed(raw, columns[column])
        if failed is not None:
            checks.append((failed, lambda i, raw=raw, what=what: f"{what} {raw[i].as_py()!r}"))
        if column == "ts" and (outside := _outside(columns["ts"], window)) is not None:
            allowed = f"(allowed {_iso(window[0])} .. {_iso(window[1])})"
            checks.append(
                (
                    pc.fill_null(outside, False).to_numpy(zero_copy_only=False),
                    lambda i, raw=raw, allowed=allowed: (
                        f"ts out of range {raw[i].as_py()!r} {allowed}"
                    ),
                )
            )
    event = columns["event"]
    index = _codes(event, [fmt.events[e] for e in EVENTS])
    failed = _failed(event, index)
    if failed is not None:
        checks.append((failed, lambda i: f"unknown event code {event[i].as_py()!r}"))
    columns["event"] = _events(index)
    columns["line"] = pa.array(lines)
    reasons: dict[int, str] = {}  # row index -> first reason that applies
    for rows, reason in checks:
        for i in np.flatnonzero(rows):
            reasons.setdefault(int(i), reason(int(i)) if callable(reason) else reason)
    typed = pa.table(columns)
    if reasons:
        rows = sorted(reasons)
        bad.extend((int(lines[i]), reasons[i], as_written(i)) for i in rows)
        keep = np.ones(n, dtype=bool)
        keep[rows] = False
        typed = typed.filter(pa.array(keep))
    return typed


def _parse_body(
    data: bytes,
    start: int,
    end: int,
    fmt: MachineFormat,
    name: str,
    first_line: int,
    bad: list,
    window: Window,
) -> tuple[pa.Table, bool]:
    """Typed rows of ``data[start:end]`` (PARSED_SCHEMA) and whether some chunk had a line
    rejected for a value (parsed as text); each rejected line goes to ``bad`` as (line
    number, reason, text)."""
    parts, exact = [], False
    for chunk, line in _chunks(data, start, end, first_line):
        rejected: list = []
        try:
            parts.append(_parse_typed(chunk, fmt, line, rejected, window))
        except (pa.ArrowInvalid, _NeedsText):
            rejected, exact = [], True
            parts.append(_parse_text(chunk, fmt, line, rejected, window))
        bad.extend(rejected)
    if not parts:
        return empty_parsed(), False
    return _finish(pa.concat_tables(parts), fmt, name), exact


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), [value])


def _finish(table: pa.Table, fmt: MachineFormat, name: str) -> pa.Table:
    """Canonical columns (``ts`` in UTC ms, ``result`` as ``passed``) -> PARSED_SCHEMA."""
    n = table.num_rows
    columns = {c: table.column(c) for c in table.column_names}
    columns["passed"] = columns.pop("result")
    columns["machine_type"] = _constant(fmt.type, n)
    columns["file"] = _constant(name, n)
    return pa.table([columns[f.name].cast(f.type) for f in PARSED_SCHEMA], schema=PARSED_SCHEMA)


def parse_bytes(
    data: bytes,
    name: str,
    wave_start: datetime | None = None,
    arrived: datetime | None = None,
    skew: timedelta = MAX_CLOCK_SKEW,
    types: dict[str, MachineFormat] = FORMATS,
) -> ParsedFile:
    """Parse one machine-log file (its bytes as landed) named ``name``, of the wave starting at
    ``wave_start``, taken into the lake at ``arrived``: a line whose time lies more than
    ``skew`` before the wave or after its end (or after the arrival) is rejected. ``types``:
    the machine types (the drop's ``delimited_log`` blocks)."""
    meta = _parse_name(name, types)
    prefix = name.rsplit("/", 1)[-1].split("-", 1)[0].split("_", 1)[0]
    machine_type = meta.type or (prefix.lower() if meta.machine_id else "unknown")

    def whole_file(reason: str, body: bytes) -> ParsedFile:
        text = body.decode("utf-8", errors="replace").removeprefix("\ufeff")
        lines = text.splitlines()
        rows = [(i, reason, line) for i, line in enumerate(lines, start=1)] or [(0, reason, "")]
        rejected = _rejected(name, rows, machine_type, meta.machine_id, wave_start)
        return ParsedFile(name, empty_parsed(), rejected, len(lines), True, reason, len(body))

    fmt = types.get(meta.type)
    tail = None
    if data.startswith(_GZIP):
        if fmt and not fmt.gzip:
            return whole_file(f"gzip-compressed, but the {fmt.type} format is not", b"")
        data, problem, tail = decompress(data)
        if problem:
            return whole_file(problem, b"")
    elif fmt and fmt.gzip and data:
        return whole_file(f"not gzip-compressed, but the {fmt.type} format is", b"")
    if not data:
        return whole_file("empty file", b"")
    if fmt is None:
        if meta.machine_id:
            known = ", ".join(f.prefix for f in types.values())
            reason = f"unknown machine type {prefix!r} (known: {known})"
        else:
            reason = "file name is not <MACHINE>-<NNNN>[_<YYYYMMDDTHHMMSS>]<extension>"
        return whole_file(reason, data)
    start, end = (len(_BOM) if data.startswith(_BOM) else 0), len(data)
    first_line = 1
    if fmt.header:
        newline = data.find(b"\n", start, start + 4096)
        header = fmt.delimiter.join(fmt.header).encode()
        if newline >= 0 and data[start:newline].removesuffix(b"\r") == header:
            start, first_line = newline + 1, 2
    partial = None
    if end > start and data[end - 1] != 0x0A:  # no line ending: cut off mid-write
        last = max(data.rfind(b"\n", start, end) + 1, start)
        partial = data[last:end].decode("utf-8", errors="replace").removesuffix("\r")
        end = last
    window = None
    if wave_start is not None:
        latest = wave_start + timedelta(hours=WAVE_HOURS)
        latest = min(latest, arrived) if arrived else latest
        window = (wave_start - skew, latest + skew)
    bad: list[tuple[int, str, str]] = []
    table, exact = _parse_body(data, start, end, fmt, name, first_line, bad, window)
    lines = table.num_rows + len(bad)  # every complete line is read or rejected
    rejected = sorted(bad)
    if partial is not None:
        rejected.append((first_line + lines, "truncated last line (no line ending)", partial))
        lines += 1
    if tail is not None:  # the rest of a gzip file, unreadable: one rejection for it all
        rejected.append((0, tail, ""))
        lines += 1
    # Not one valid line (a binary file, a wrong clock): the file is quarantined as a whole,
    # each line rejected with its own reason.
    problem = (
        f"no valid line ({len(rejected)} rejected)" if rejected and not table.num_rows else None
    )
    return ParsedFile(
        name,
        table,
        _rejected(name, rejected, fmt.type, meta.machine_id, wave_start),
        lines,
        exact,
        problem,
        len(data),
    )


# -- KPIs -------------------------------------------------------------------------------------


def kpi_sql(
    parsed: str, rejected: str | None, grain: str, window: tuple[datetime, datetime] | None = None
) -> str:
    """KPIs per machine type, machine, station and ``grain`` (``hour`` or ``day``): the
    definitions are in ``docs/machine-log-formats.md`` ("KPIs").

    ``parsed``/``rejected`` are DuckDB table expressions (``read_parquet([...])``) of the waves
    in ``window`` (the partition's start and end). A line counts in its file's wave: at its
    event hour (day), clamped into ``window``, so a clock a little off never makes a second
    row for one key in a neighbouring partition. Rejected lines count on their file's machine,
    with no station, at the start of the file's wave (hour grain) or its day.
    """
    step = {"hour": 3_600_000_000, "day": 86_400_000_000}[grain]  # microseconds

    def trunc(column: str) -> str:
        """UTC hour/day start by integer arithmetic: DuckDB's ``date_trunc`` on a TIMESTAMPTZ
        goes through ICU's calendar and costs more than the whole rest of the query."""
        return f"make_timestamptz(epoch_us({column}) // {step} * {step})"

    start = f"epoch_us(ts) // {step} * {step}"
    if window:
        first, end = (int(w.timestamp()) * 1_000_000 for w in window)
        start = f"least(greatest({start}, {first}), {end - step})"
    when = f"make_timestamptz({start})"
    rejected_part = (
        f"""
        UNION ALL BY NAME
        SELECT machine_type, machine_id, NULL::VARCHAR AS station_id,
               {trunc("wave_start")} AS {grain}, count(*) AS rejected_lines
        FROM {rejected} GROUP BY ALL"""
        if rejected
        else ""
    )
    return f"""
        WITH accepted AS (
            SELECT machine_type, machine_id, station_id, {when} AS {grain},
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
