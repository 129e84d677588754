"""Readers of the tabular drop formats (csv, jsonl, parquet): one file's bytes -> typed rows
(the declared columns, the name's groups, ``file``, ``line``) and rejected lines with reasons.

Every reader first makes each declared column a text column, then :func:`typed` converts them
all the same way, so a value means the same in every format. A line is rejected with the first
reason that applies (``missing <column>``, ``unparsable <column> '<value>'``, ``expected N
fields, found M``, ``invalid JSON``, ...); a file is rejected as a whole (``file_problem``) when
nothing in it can be read as the format says (empty, not in the declared encoding, header or
trailer not as declared, not Parquet, a column missing). ``accepted + rejected == lines``.
(``delimited_log``, the machine logs, has its own reader: ``warehouse/machine_logs.py``.)
"""

import codecs
import csv
import functools
import json
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lakehouse.sources.files.casting import cast, failed
from lakehouse.sources.files.parsed import ParsedFile, rejected_table
from lakehouse.sources.files.spec import Column, CsvFormat, DropSpec, JsonlFormat, ParquetFormat


@dataclass
class _Read:
    """What a reader made of a file: text columns and their physical line numbers, lines
    rejected already (line, reason, text), data lines; or why the whole file is rejected."""

    columns: dict[str, pa.ChunkedArray] | None = None
    numbers: np.ndarray | None = None
    bad: list = field(default_factory=list)
    lines: int = 0
    problem: str | None = None
    written: list[str] | None = None  # the data lines as written (for rejected lines' text)
    first: int = 1  # physical number of written[0]
    source: bytes | None = None  # or the data lines (UTF-8), split only if a line is rejected

    def text_of(self, number: int) -> str:
        if self.written is None and self.source is not None:
            text = self.source.decode()
            self.written = [line.removesuffix("\r") for line in text.split("\n")]
        return self.written[number - self.first] if self.written else ""


_SQL_TYPES = {pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.date32(): "DATE"}


def _sql_type(arrow: pa.DataType) -> str:
    if pa.types.is_decimal(arrow):
        return f"DECIMAL({arrow.precision},{arrow.scale})"
    if pa.types.is_timestamp(arrow):
        return "TIMESTAMPTZ"
    return _SQL_TYPES[arrow]


def _convert(text: pa.ChunkedArray, column: Column, fmt) -> pa.ChunkedArray:
    """One text column -> its declared type (NULL where a value does not parse)."""
    arrow = column.arrow
    if arrow == pa.string():
        return text
    if arrow == pa.bool_():
        true_values = getattr(fmt, "true_values", ("true",))
        false_values = getattr(fmt, "false_values", ("false",))
        known = pc.is_in(text, value_set=pa.array([*true_values, *false_values]))
        value = pc.is_in(text, value_set=pa.array(list(true_values)))
        return pc.if_else(known, value, pa.scalar(None, pa.bool_()))
    if column.format and (pa.types.is_timestamp(arrow) or arrow == pa.date32()):
        # each distinct value once (a statement has few dates); strptime rolls 31.02. over to
        # 03.03.: the value must be the one its time writes
        distinct = pc.unique(text)
        parsed = pc.strptime(distinct, format=column.format, unit="ms", error_is_null=True)
        real = pc.equal(pc.strftime(parsed, format=column.format), distinct)
        parsed = pc.if_else(pc.fill_null(real, False), parsed, None)
        parsed = pc.take(parsed, pc.index_in(text, value_set=distinct))
        return parsed.cast(pa.timestamp("ms", tz="UTC")).cast(arrow)
    if pa.types.is_integer(arrow) or pa.types.is_floating(arrow) or pa.types.is_decimal(arrow):
        thousands = getattr(fmt, "thousands", None)
        if thousands:
            text = pc.replace_substring(text, thousands, "")
        if getattr(fmt, "decimal", ".") != "." and not pa.types.is_integer(arrow):
            text = pc.replace_substring(text, fmt.decimal, ".")
        if pa.types.is_decimal(arrow):  # more decimals than the scale: unparsable, not rounded
            finer = pc.match_substring_regex(text, rf"\.\d{{{arrow.scale + 1},}}$")
            text = pc.if_else(pc.fill_null(finer, False), pa.scalar(None, pa.string()), text)
    if pa.types.is_timestamp(arrow):  # a time without a zone is UTC
        naive = pc.fill_null(pc.match_substring_regex(text, r"\d(Z|[+-]\d\d(:?\d\d)?)$"), True)
        return pc.if_else(
            naive,
            cast(text, pa.timestamp("ms"), "TIMESTAMP").cast(arrow),
            cast(text, arrow, "TIMESTAMPTZ"),
        )
    return cast(text, arrow, _sql_type(arrow))


def typed(
    text: dict[str, pa.ChunkedArray], columns: tuple[Column, ...], fmt, lines: np.ndarray
) -> tuple[pa.Table, list[tuple[int, str, str | None]], bool]:
    """Text columns -> (typed rows that are good, rejections as (line, reason, None), whether
    some value was unparsable). The caller fills in each rejected line's text."""
    n = len(lines)
    out, reasons, exact = {}, {}, False
    for column in columns:
        raw = text[column.name]
        if column.required and raw.null_count:
            for i in np.flatnonzero(pc.is_null(raw).to_numpy(zero_copy_only=False)):
                reasons.setdefault(int(i), f"missing {column.name}")
        out[column.name] = _convert(raw, column, fmt)
        bad = failed(raw, out[column.name])
        if bad is not None:
            exact = True
            for i in np.flatnonzero(bad):
                reasons.setdefault(int(i), f"unparsable {column.name} {raw[int(i)].as_py()!r}")
    out["line"] = pa.array(lines, pa.int32())
    table = pa.table(out) if columns else pa.table({"line": out["line"]})
    if reasons:
        keep = np.ones(n, dtype=bool)
        keep[list(reasons)] = False
        table = table.filter(pa.array(keep))
    return table, [(int(lines[i]), reasons[i], None) for i in sorted(reasons)], exact


def _decode(data: bytes, encoding: str) -> tuple[str | None, str | None]:
    try:
        return data.decode(encoding).removeprefix("\ufeff"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, f"not {encoding}: byte {exc.start + 1} (line {line}) cannot be decoded"


def _split(text: str) -> list[str]:
    """Physical lines (CRLF or LF), without a final empty one."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _csv_fields(line: str, fmt: CsvFormat) -> list[str]:
    quoting = {"quotechar": fmt.quote} if fmt.quote else {"quoting": csv.QUOTE_NONE}
    return next(csv.reader([line], delimiter=fmt.delimiter, **quoting), [])


def _arrow_csv(
    body: pa.Buffer, names: list[str], fmt: CsvFormat, first: int, threads: bool
) -> tuple[pa.Table, list]:
    """Arrow's CSV reader, every field as text; lines with the wrong field count as (line,
    reason, text): numbered unless ``threads`` (then only their presence is known)."""
    bad: list = []

    def wrong_field_count(row) -> str:
        line = (row.text or "").removesuffix("\r")
        reason = "empty line" if not line else f"expected {len(names)} fields, found "
        number = row.number + first - 1 if row.number is not None else 0
        bad.append((number, reason + (str(row.actual_columns) if line else ""), line))
        return "skip"

    quote = {"quote_char": fmt.quote} if fmt.quote else {"quote_char": False}
    block = 1 << 20 if threads else max(body.size, 1) + 1
    table = pacsv.read_csv(
        pa.BufferReader(body),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=threads, block_size=block),
        parse_options=pacsv.ParseOptions(
            delimiter=fmt.delimiter,
            ignore_empty_lines=False,
            invalid_row_handler=wrong_field_count,
            **quote,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in names},
            null_values=list(fmt.nulls),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    return table, bad


_BARE_CR = re.compile(rb"\r(?!\n|\Z)")


def read_csv(data: bytes, name: str, fmt: CsvFormat) -> _Read:
    """Header, trailer and line count found on the bytes (UTF-8: the file itself, else its
    text re-encoded), the data lines handed to Arrow without a copy."""
    text, problem = _decode(data, fmt.encoding)
    if problem:
        return _Read(problem=problem)
    raw = data if codecs.lookup(fmt.encoding).name == "utf-8" else text.encode()
    start, end, first = (3 if raw.startswith(codecs.BOM_UTF8) else 0), len(raw), 1
    if (cr := _BARE_CR.search(raw)) is not None:  # Arrow would end a line there, we not
        line = raw.count(b"\n", 0, cr.start()) + 1
        return _Read(
            problem=f"line {line}: a carriage return inside a line (lines end in LF or CRLF)"
        )
    names = [c.name for c in fmt.columns]
    if fmt.header:
        newline = raw.find(b"\n", start)
        header = raw[start : end if newline < 0 else newline].decode().removesuffix("\r")
        if start == end or _csv_fields(header, fmt) != names:
            expected = fmt.delimiter.join(names)
            return _Read(problem=f"header {header[:200]!r} is not {expected!r}")
        start, first = (end if newline < 0 else newline + 1), 2
    end = _without_line_ending(raw, start, end)  # the final line ending is optional
    if fmt.trailer:
        cut = raw.rfind(b"\n", start, end)
        last = raw[cut + 1 if cut >= 0 else start : end].decode().removesuffix("\r")
        end = _without_line_ending(raw, start, cut + 1 if cut >= 0 else start)
        last = re.fullmatch(fmt.trailer, last) if last else None
        if last is None:
            return _Read(problem=f"no trailer line matching {fmt.trailer!r} (incomplete?)")
    lines = raw.count(b"\n", start, end) + 1 if end > start else 0
    if fmt.trailer and "rows" in last.groupdict() and int(last["rows"]) != lines:
        return _Read(problem=f"trailer says {int(last['rows'])} data lines, the file has {lines}")
    if lines:
        body = pa.py_buffer(raw).slice(start, end - start)
        table, bad = _arrow_csv(body, names, fmt, first, threads=True)
        if bad:  # a threaded read does not number lines: read again, numbering them
            table, bad = _arrow_csv(body, names, fmt, first, threads=False)
            bad = [line for record in bad for line in _lines_of(record)]
    else:  # a header (and trailer) and no data line: a day without bookings
        table, bad = pa.table({c: pa.array([], pa.string()) for c in names}), []
    read = _Read(None, np.arange(first, first + lines, dtype=np.int32), bad, lines, first=first)
    if bad:
        read.source = raw[start:end]
        read.numbers = read.numbers[~np.isin(read.numbers, [b[0] for b in bad])]
    nulls = [pc.is_null(table.column(c)) for c in names]
    if table.num_rows and pc.any(functools.reduce(pc.and_, nulls)).as_py():
        # a row of nulls: an empty line (Arrow reads it so), or one of empty fields (kept)
        read.source = raw[start:end]
        every = functools.reduce(pc.and_, nulls).to_numpy(zero_copy_only=False)
        empty = np.zeros(len(read.numbers), dtype=bool)
        for i in np.flatnonzero(every):
            empty[i] = read.text_of(int(read.numbers[i])) == ""
        bad += [(int(n), "empty line", "") for n in read.numbers[empty]]
        table, read.numbers = table.filter(pa.array(~empty)), read.numbers[~empty]
    read.columns = {c: table.column(c) for c in names}
    return read


def _lines_of(record: tuple[int, str, str]) -> list[tuple[int, str, str]]:
    """A rejected record spanning lines (a quote left open runs on) -> one rejection a line."""
    number, reason, text = record
    parts = [part.removesuffix("\r") for part in text.split("\n")]
    return [(number, reason, parts[0])] + [
        (number + i, f"inside the record of line {number} (a quote left open): {reason}", part)
        for i, part in enumerate(parts[1:], 1)
    ]


def _without_line_ending(raw: bytes, start: int, end: int) -> int:
    """``end`` moved before a line ending that ``raw[start:end]`` ends with."""
    if end > start and raw[end - 1] == 0x0A:
        end -= 1
    if end > start and raw[end - 1] == 0x0D:
        end -= 1
    return end


def _json_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, sort_keys=True)


def read_jsonl(data: bytes, name: str, fmt: JsonlFormat) -> _Read:
    text, problem = _decode(data, fmt.encoding)
    if problem:
        return _Read(problem=problem)
    lines = _split(text)
    names = [c.name for c in fmt.columns]
    values: dict[str, list] = {c: [] for c in names}
    numbers, bad = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            bad.append((number, "empty line", line))
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            bad.append((number, f"invalid JSON: {exc}", line))
            continue
        if not isinstance(record, dict):
            bad.append((number, f"not a JSON object but {type(record).__name__}", line))
            continue
        numbers.append(number)
        for c in names:
            values[c].append(_json_text(record.get(c)))
    columns = {c: pa.chunked_array([pa.array(v, pa.string())]) for c, v in values.items()}
    return _Read(columns, np.array(numbers, np.int32), bad, len(lines), written=lines)


def read_parquet(data: bytes, name: str, fmt: ParquetFormat) -> _Read:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        return _Read(problem=f"not a Parquet file: {exc}")
    missing = [c.name for c in fmt.columns if c.name not in table.column_names]
    if missing:
        return _Read(problem=f"column(s) {', '.join(missing)} missing")
    columns = {}
    for c in fmt.columns:
        column = table.column(c.name)
        columns[c.name] = column if pa.types.is_string(column.type) else column.cast(pa.string())
    numbers = np.arange(1, table.num_rows + 1, dtype=np.int32)
    return _Read(columns, numbers, [], table.num_rows)


_READERS = {"csv": read_csv, "jsonl": read_jsonl, "parquet": read_parquet}


def parse_file(drop: DropSpec, data: bytes, name: str) -> ParsedFile:
    """One file of ``drop`` -> typed rows (declared columns, the name's groups, file, line)."""
    fmt = drop.format
    groups = drop.name_groups(name)

    def whole_file(reason: str) -> ParsedFile:
        return ParsedFile(
            name,
            empty_table(drop),
            rejected_table(name, [(0, reason, "")]),
            0,
            False,
            reason,
            len(data),
        )

    if groups is None:
        return whole_file(f"file name does not match {drop.pattern.pattern!r}")
    if not data:
        return whole_file("empty file")
    try:
        read = _READERS[fmt.kind](data, name, fmt)
    except (pa.ArrowException, ValueError, csv.Error) as exc:  # what the reader cannot read
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return whole_file(f"not readable as {fmt.kind}: {first}")
    if read.problem:
        return whole_file(read.problem)
    table, rejected, exact = typed(read.columns, fmt.columns, fmt, read.numbers)
    rows = sorted([*read.bad, *((n, r, read.text_of(n)) for n, r, _ in rejected)])
    table = _finish(table, drop, name, groups)
    problem = f"no valid line ({len(rows)} rejected)" if rows and not table.num_rows else None
    return ParsedFile(
        name, table, rejected_table(name, rows), read.lines, exact, problem, len(data)
    )


def parsed_schema(drop: DropSpec) -> pa.Schema:
    """Declared columns, then the name's groups (text, dictionary-encoded: one value per
    file), then ``file`` (likewise) and ``line``."""
    fields = [(c.name, c.arrow) for c in drop.format.columns]
    fields += [(g, _CONSTANT) for g in drop.pattern.groupindex]
    return pa.schema([*fields, ("file", _CONSTANT), ("line", pa.int32())])


def empty_table(drop: DropSpec) -> pa.Table:
    return parsed_schema(drop).empty_table()


_CONSTANT = pa.dictionary(pa.int32(), pa.string())  # one value per file: dictionary-encoded


def _constant(value: str | None, n: int) -> pa.Array:
    indices = pa.array(np.zeros(n, np.int32), mask=np.full(n, value is None))
    return pa.DictionaryArray.from_arrays(indices, [value or ""])


def _finish(table: pa.Table, drop: DropSpec, name: str, groups: dict[str, str]) -> pa.Table:
    n = table.num_rows
    columns = {c: table.column(c) for c in table.column_names}
    for group in drop.pattern.groupindex:
        columns[group] = _constant(groups.get(group), n)
    columns["file"] = _constant(name, n)
    schema = parsed_schema(drop)
    return pa.table([columns[f.name].cast(f.type) for f in schema], schema=schema)
