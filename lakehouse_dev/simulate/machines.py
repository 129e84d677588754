"""Machine-log generator: realistic files for every machine type, fast (vectorised, Arrow).

Each machine writes one file per 2-hour wave. Lines are rendered column-wise with numpy and
Arrow compute kernels (no Python loop per line), joined into one buffer, then given the
format's quirks: header, UTF-8 BOM, CRLF, gzip, and -- per options -- a truncated last line
(a machine cut off mid-write), a few bad lines (garbage, wrong field count, unparsable number
or timestamp), empty files and files from an unknown machine type. Deterministic per seed.
"""

import functools
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.sources.machines.formats import (
    FORMATS,
    WAVE_HOURS,
    MachineFormat,
    file_name,
    wave_start,
)
from lakehouse.storage.store import Store

TYPES = tuple(FORMATS)  # machine i has type TYPES[i % 5]
MiB = 1024 * 1024
EVENT_P = {"TEST": 0.93, "PROD": 0.065, "ALARM": 0.005}
BAD_KINDS = ("garbage", "field_count", "number", "timestamp")


@dataclass
class Quirks:
    truncated_share: float = 0.05  # share of files whose last line is cut off mid-write
    bad_line_rate: float = 2e-6  # share of lines replaced by a bad line
    empty_files: int = 0  # per wave
    unknown_files: int = 0  # per wave: files from a machine type nobody registered


@dataclass
class Generated:
    files: list[str] = field(default_factory=list)  # keys written
    bytes_on_disk: int = 0
    bytes_uncompressed: int = 0
    lines: int = 0
    bad_lines: int = 0
    truncated_files: int = 0


def machine_type(machine_no: int) -> MachineFormat:
    return FORMATS[TYPES[(machine_no - 1) % len(TYPES)]]


def _strings(values: np.ndarray | pa.Array, valid: np.ndarray | None = None) -> pa.Array:
    array = values if isinstance(values, pa.Array) else pa.array(values)
    if array.type != pa.string():
        array = pc.cast(array, pa.string())
    if valid is not None:
        array = pc.if_else(pa.array(valid), array, pa.scalar("", pa.string()))
    return array


_MILLIS = pa.array([f".{i:03d}" for i in range(1000)])


@functools.lru_cache(maxsize=64)
def _seconds(pattern: str, start: datetime) -> pa.Array:
    """Every second of the wave starting at ``start``, formatted."""
    seconds = range(WAVE_HOURS * 3600)
    return pa.array([(start + timedelta(seconds=s)).strftime(pattern) for s in seconds])


def _timestamps(fmt: MachineFormat, start: datetime, start_ms: int, ts_ms: np.ndarray) -> pa.Array:
    """Timestamps in the format's notation. A wave has only 7,200 distinct seconds: each is
    formatted once and taken by index (formatting every line would dominate the cost)."""
    if fmt.ts_kind == "epoch_ms":
        return _strings(ts_ms)
    offset = ts_ms - start_ms
    second = offset // 1000
    text = _seconds(fmt.ts_format.removesuffix("Z"), start).take(second)
    if fmt.ts_kind == "strptime":  # whole seconds
        return text
    suffix = "Z" if fmt.ts_kind == "iso_z" else ""
    return pc.binary_join_element_wise(text, _MILLIS.take(offset % 1000), suffix, "")


_POOL = 4096  # pre-rendered values per step: lines take them by index (no per-line formatting)


def _value_pool(fmt: MachineFormat, rng: np.random.Generator) -> pa.Array:
    """``_POOL`` rendered measurements per step, step after step (index = step * _POOL + i)."""
    texts = []
    for step in fmt.steps:
        for value in np.round(rng.normal(step.mean, step.sd, _POOL), 3):
            texts.append(repr(float(value)))
    return _decimal_mark(fmt, pa.array(texts))


def _decimal_mark(fmt: MachineFormat, texts: pa.Array) -> pa.Array:
    return pc.replace_substring(texts, ".", ",") if fmt.decimal_comma else texts


def _render_columns(
    fmt: MachineFormat, machine_no: int, start: datetime, n: int, rng: np.random.Generator
) -> dict[str, pa.Array]:
    """The thirteen fields of ``n`` lines as string arrays, already in the format's notation."""
    start_ms = int(start.timestamp() * 1000)
    ts_ms = start_ms + np.sort(rng.integers(0, WAVE_HOURS * 3_600_000, n))
    if fmt.ts_kind == "strptime":
        ts_ms -= ts_ms % 1000  # whole seconds
    event_idx = rng.choice(3, size=n, p=list(EVENT_P.values()))
    is_test, is_prod, is_alarm = event_idx == 0, event_idx == 1, event_idx == 2
    # A unit is produced at each PROD line; test lines belong to the unit in progress.
    unit_no = np.cumsum(is_prod) + machine_no * 10_000_000
    step_idx = rng.integers(0, len(fmt.steps), n)
    attempt = np.where(rng.random(n) < 0.93, 0, np.where(rng.random(n) < 0.85, 1, 2))
    passed = rng.random(n) < np.where(attempt == 0, 0.965, 0.8)
    cycles = _decimal_mark(
        fmt,
        pa.array([repr(float(c)) for c in np.round(rng.lognormal(np.log(30.0), 0.25, _POOL), 2)]),
    )
    empty = pa.scalar("", pa.string())

    def only(mask: np.ndarray, values: pa.Array) -> pa.Array:
        return pc.if_else(pa.array(mask), values, empty)

    return {
        "ts": _timestamps(fmt, start, start_ms, ts_ms),
        "machine_id": pa.array([f"{fmt.prefix}-{machine_no:04d}"]).take(np.zeros(n, np.int32)),
        "station_id": pa.array(
            [f"{fmt.station_prefix}{i}" for i in range(1, fmt.stations + 1)]
        ).take(rng.integers(0, fmt.stations, n)),
        "event": pa.array([fmt.events[e] for e in EVENT_P]).take(event_idx),
        "serial": only(~is_alarm, pc.binary_join_element_wise("SN", _strings(unit_no), "")),
        "step": only(is_test, pa.array([s.name for s in fmt.steps]).take(step_idx)),
        "attempt": only(is_test, pa.array(["1", "2", "3"]).take(attempt)),
        "result": only(is_test, pa.array(fmt.results).take(np.where(passed, 0, 1))),
        "value": only(
            is_test, _value_pool(fmt, rng).take(step_idx * _POOL + rng.integers(0, _POOL, n))
        ),
        "unit": only(is_test, pa.array([s.unit for s in fmt.steps]).take(step_idx)),
        "units": only(is_prod, pa.array([str(i) for i in range(1, 9)]).take(rng.integers(0, 8, n))),
        "cycle_s": only(is_prod, cycles.take(rng.integers(0, _POOL, n))),
        "alarm": only(is_alarm, pa.array(fmt.alarms).take(rng.integers(0, len(fmt.alarms), n))),
    }


def _bad_line(fmt: MachineFormat, fields: list[str], kind: str) -> str:
    fields = list(fields)
    if kind == "garbage":
        return "\x00\x1b[0m#### buffer overrun ####" if fmt.gzip else "#### buffer overrun ####"
    if kind == "field_count":
        return fmt.delimiter.join(fields[:-3])
    if kind == "number":
        fields[fmt.columns.index("attempt")] = "1x"
    else:  # timestamp
        fields[fmt.ts_column] = "2026-13-45 25:61:00" if fmt.ts_kind != "epoch_ms" else "17e+x"
    return fmt.delimiter.join(fields)


def render_lines(
    fmt: MachineFormat,
    machine_no: int,
    start: datetime,
    n: int,
    rng: np.random.Generator,
    bad_line_rate: float = 0.0,
) -> tuple[bytes, int]:
    """``n`` lines (with line endings, no header), and how many of them are bad."""
    columns = _render_columns(fmt, machine_no, start, n, rng)
    ordered = [columns[name] for name in fmt.columns]
    lines = pc.binary_join_element_wise(*ordered, fmt.delimiter)
    bad = np.flatnonzero(rng.random(n) < bad_line_rate) if bad_line_rate else np.array([], int)
    if len(bad):
        kinds = rng.integers(0, len(BAD_KINDS), len(bad))
        replaced = [
            _bad_line(fmt, [c[int(i)].as_py() for c in ordered], BAD_KINDS[k])
            for i, k in zip(bad, kinds, strict=True)
        ]
        mask = np.zeros(n, bool)
        mask[bad] = True
        lines = pc.replace_with_mask(lines, pa.array(mask), pa.array(replaced))
    lines = pc.binary_join_element_wise(lines, pa.scalar(""), fmt.eol)
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return lines.buffers()[2].to_pybytes()[first:last], len(bad)


def _avg_line_bytes(fmt: MachineFormat) -> float:
    sample, _ = render_lines(
        fmt, 1, datetime(2026, 1, 1, tzinfo=UTC), 2000, np.random.default_rng(0)
    )
    return len(sample) / 2000


def render_file(
    fmt: MachineFormat,
    machine_no: int,
    start: datetime,
    file_mb: float,
    rng: np.random.Generator,
    quirks: Quirks,
    line_bytes: float | None = None,
) -> tuple[bytes, int, int, int, bool]:
    """One file's bytes as written: (data, uncompressed size, lines, bad lines, truncated)."""
    n = max(1, int(file_mb * MiB / (line_bytes or _avg_line_bytes(fmt))))
    body, n_bad = render_lines(fmt, machine_no, start, n, rng, quirks.bad_line_rate)
    truncated = bool(rng.random() < quirks.truncated_share)
    if truncated:  # cut off mid-write: the last line loses its end (and its line ending)
        last_start = body.rfind(fmt.eol.encode(), 0, len(body) - len(fmt.eol)) + len(fmt.eol)
        cut = last_start + int(rng.integers(1, max(2, len(body) - len(fmt.eol) - last_start)))
        body = body[:cut]
    head = b"\xef\xbb\xbf" if fmt.bom else b""
    if fmt.header:
        head += (fmt.delimiter.join(fmt.header) + fmt.eol).encode()
    data = head + body
    size = len(data)
    if fmt.gzip:
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip container, fast level
        data = compressor.compress(data) + compressor.flush()
    return data, size, n, n_bad, truncated


def default_start(waves: int, now: datetime | None = None) -> datetime:
    """The first of ``waves`` waves ending with the last complete one before ``now``."""
    last_complete = wave_start(now or datetime.now(UTC)) - timedelta(hours=WAVE_HOURS)
    return last_complete - timedelta(hours=WAVE_HOURS * (waves - 1))


def generate(
    store: Store,
    prefix: str,
    *,
    machines: int,
    file_mb: float,
    waves: int,
    seed: int = 7,
    start: datetime | None = None,
    quirks: Quirks | None = None,
    workers: int = 2,
    on_file: Callable[[str], None] | None = None,
) -> Generated:
    """Write ``machines`` x ``waves`` files under ``prefix`` of ``store`` (a landing folder)."""
    quirks = quirks or Quirks()

    def key_of(name: str) -> str:
        return f"{prefix}/{name}" if prefix else name

    start = wave_start(start or default_start(waves))
    line_bytes = {t: _avg_line_bytes(f) for t, f in FORMATS.items()}
    jobs = [(w, m) for w in range(waves) for m in range(1, machines + 1)]
    out = Generated()

    def one(job: tuple[int, int]) -> tuple[str, int, int, int, int, bool]:
        wave, machine_no = job
        fmt = machine_type(machine_no)
        rng = np.random.default_rng([seed, wave, machine_no])
        began = start + timedelta(hours=WAVE_HOURS * wave)
        data, size, n, n_bad, truncated = render_file(
            fmt, machine_no, began, file_mb, rng, quirks, line_bytes[fmt.type]
        )
        key = key_of(file_name(fmt, machine_no, began))
        store.write_bytes(key, data)
        return key, len(data), size, n, n_bad, truncated

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for key, disk, size, n, n_bad, truncated in pool.map(one, jobs):
            out.files.append(key)
            out.bytes_on_disk += disk
            out.bytes_uncompressed += size
            out.lines += n
            out.bad_lines += n_bad
            out.truncated_files += truncated
            if on_file:
                on_file(key)
    for wave in range(waves):
        began = start + timedelta(hours=WAVE_HOURS * wave)
        stamp = began.strftime("%Y%m%dT%H%M%S")
        for i in range(quirks.empty_files):
            key = key_of(f"{FORMATS[TYPES[i % 5]].prefix}-{9000 + i:04d}_{stamp}.log")
            out.files.append(store.write_bytes(key, b""))
        for i in range(quirks.unknown_files):
            key = key_of(f"XRY-{9100 + i:04d}_{stamp}.log")
            lines = "".join(
                f"{began:%Y-%m-%dT%H:%M:%S}Z XRY-{9100 + i:04d} dose={j}\n" for j in range(10)
            )
            out.files.append(store.write_bytes(key, lines.encode()))
            out.bytes_on_disk += len(lines)
            out.bytes_uncompressed += len(lines)
    return out
