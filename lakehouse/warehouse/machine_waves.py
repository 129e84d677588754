"""A wave's files in the lake -> typed Parquet parts (warehouse) + rejected lines (quarantine),
and the KPIs over them.

Layout:
- ``<lake>/machines/raw/dt=<date>/<time>Z_wave=<W>/<name>``: the files as landed, under the
  take folders of the wave (see ``landing.py``);
- ``<warehouse>/machines/parsed/wave=<W>/<name>.parquet``: one typed part per raw file
  (``PARSED_SCHEMA``); its existence marks the file as parsed, so a late file for an old wave
  costs the parse of that file only, then the wave's KPIs are recomputed from the parts;
- ``<lake>/quarantine/machines/rejected_lines/wave=<W>/<name>.parquet``: the file's rejected
  lines with line number and reason (``REJECTED_SCHEMA``), ``.reason.json`` beside it;
- a file rejected as a whole (empty, unknown type, unreadable) is moved to
  ``<lake>/quarantine/<its lake key>`` with ``<name>.reason.json``.

Files are parsed ``workers`` at a time, each streamed to its own part as soon as it is parsed:
memory is bounded by ``workers`` files, whatever the size of the wave.
"""

import posixpath
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.sources.machines.formats import WAVE_HOURS, wave_bounds
from lakehouse.sources.machines.landing import raw_files, taken_at
from lakehouse.storage.duck import connect
from lakehouse.storage.quarantine import is_reason, quarantine, quarantine_key, quarantined_file
from lakehouse.storage.store import Store
from lakehouse.warehouse.machine_logs import (
    MAX_CLOCK_SKEW,
    PARSED_SCHEMA,
    REJECTED_SCHEMA,
    kpi_sql,
    parse_bytes,
)

PARSED_PREFIX = "machines/parsed"
REJECTED_LINES = "machines/rejected_lines"  # under the lake's quarantine
REJECTED_PREFIX = quarantine_key(REJECTED_LINES)
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 1}
# Parsed parts: dictionary pages only for the few-valued text columns (a serial number is
# nearly unique: trying to dictionary-encode it costs time for nothing), delta encoding for
# the time and line number (ascending: a third smaller and faster to write than plain + zstd),
# statistics only on the time (what a reader prunes on).
PART_OPTIONS = {
    **PARQUET_OPTIONS,
    "use_dictionary": [
        *("machine_type", "machine_id", "station_id", "event", "step", "unit", "alarm", "file")
    ],
    "column_encoding": {"ts": "DELTA_BINARY_PACKED", "line": "DELTA_BINARY_PACKED"},
    "write_statistics": ["ts"],
}


@dataclass
class WaveParse:
    files: int = 0  # raw files in the wave
    parsed: int = 0  # parsed by this run
    already_parsed: int = 0
    exact_path: int = 0  # files with an unparsable value (converted value by value)
    bytes_in: int = 0  # as stored (compressed or not)
    bytes_uncompressed: int = 0
    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    unaccounted_files: list[str] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)  # file -> reason
    reasons: Counter = field(default_factory=Counter)  # rejected lines by reason (kind)


def part_key(wave: str, name: str) -> str:
    return f"{PARSED_PREFIX}/wave={wave}/{name}.parquet"


def rejected_key(wave: str, name: str) -> str:
    return quarantine_key(_rejected_lines(wave, name))


def _rejected_lines(wave: str, name: str) -> str:
    """The file's rejected lines: their key under the lake's quarantine."""
    return f"{REJECTED_LINES}/wave={wave}/{name}.parquet"


def _write(store: Store, key: str, table: pa.Table, options: dict = PARQUET_OPTIONS) -> None:
    with store.atomic_open(key) as f:
        pq.write_table(table, f, **options)


def _read_raw(store: Store, key: str) -> bytes:
    if store.is_local:
        with open(store.path(key), "rb") as f:
            return f.read()
    return store.read_bytes(key)


def parse_wave(
    lake: Store,
    warehouse: Store,
    wave: str,
    *,
    full_refresh: bool = False,
    workers: int = 2,
    run_id: str = "",
    skew: timedelta = MAX_CLOCK_SKEW,
) -> WaveParse:
    """Parse the wave's raw files that have no part yet (all of them if ``full_refresh``).
    One run per wave at a time: temporaries in its folders are a killed run's, removed."""
    for store, prefix in ((warehouse, PARSED_PREFIX), (lake, REJECTED_PREFIX)):
        store.remove_temporaries(f"{prefix}/wave={wave}", older_than=time.time())
    raw = raw_files(lake, wave)
    done = set()
    if not full_refresh:
        done = {posixpath.basename(k) for k in warehouse.keys(f"{PARSED_PREFIX}/wave={wave}")}
    todo = [k for k in raw if f"{posixpath.basename(k)}.parquet" not in done]
    stats = WaveParse(files=len(raw), already_parsed=len(raw) - len(todo))
    start, _ = wave_bounds(wave)

    def one(key: str) -> tuple:
        """Parse one file and write its part; only counts come back (memory stays bounded)."""
        name = posixpath.basename(key)
        data = _read_raw(lake, key)
        parsed = parse_bytes(data, name, start, taken_at(key), skew)
        if parsed.rejected.num_rows:
            reason = f"{parsed.rejected.num_rows} line(s) rejected, each with its reason"
            lines = _rejected_lines(wave, name)
            with quarantined_file(lake, lines, reason, source=lake.uri(key), run_id=run_id) as f:
                pq.write_table(parsed.rejected, f, **PARQUET_OPTIONS)
        if parsed.file_problem:
            quarantine(lake, key, parsed.file_problem, run_id=run_id)
        else:
            _write(warehouse, part_key(wave, name), parsed.table, PART_OPTIONS)
        reasons = Counter(r.split(" '")[0] for r in parsed.rejected.column("reason").to_pylist())
        counts = (parsed.lines, parsed.table.num_rows, parsed.rejected.num_rows)
        return (
            key,
            len(data),
            parsed.uncompressed_bytes,
            parsed.exact,
            parsed.file_problem,
            parsed.accounted,
            counts,
            reasons,
        )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for key, size, size_raw, exact, problem, accounted, counts, reasons in pool.map(one, todo):
            stats.parsed += 1
            stats.exact_path += exact
            stats.bytes_in += size
            stats.bytes_uncompressed += size_raw
            stats.lines += counts[0]
            stats.accepted += counts[1]
            stats.rejected += counts[2]
            stats.reasons.update(reasons)
            if problem:
                stats.quarantined[posixpath.basename(key)] = problem
            if not accounted:
                stats.unaccounted_files.append(key)
    return stats


def _relation(con, name: str, store: Store, keys: list[str], schema: pa.Schema) -> str:
    if keys:
        paths = ", ".join("'" + store.uri(k).replace("'", "''") + "'" for k in keys)
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{paths}])")
    else:
        con.register(name, schema.empty_table())
    return name


def kpis(
    lake: Store,
    warehouse: Store,
    waves: list[str],
    grain: str,
    memory_limit: str = "1GB",
    threads: int = 2,
) -> pa.Table:
    """KPIs (``kpi_sql``) over the parsed parts and rejected lines of ``waves`` (consecutive:
    one wave, or the waves of a day), every hour within them."""
    parts = [k for w in waves for k in warehouse.keys(f"{PARSED_PREFIX}/wave={w}")]
    rejected = [
        k for w in waves for k in lake.keys(f"{REJECTED_PREFIX}/wave={w}") if not is_reason(k)
    ]
    window = (wave_bounds(waves[0])[0], wave_bounds(waves[-1])[1])
    con = connect([lake, warehouse])
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET threads = {int(threads)}")
    parsed = _relation(con, "parsed", warehouse, parts, PARSED_SCHEMA)
    bad = _relation(con, "rejected", lake, rejected, REJECTED_SCHEMA)
    table = con.sql(kpi_sql(parsed, bad, grain, window)).to_arrow_table()
    con.close()
    return table


def waves_of_day(day: str) -> list[str]:
    """The 12 wave keys of ``day`` (``YYYY-MM-DD``)."""
    start, _ = wave_bounds(f"{day}T00")
    return [(start + timedelta(hours=WAVE_HOURS * i)).strftime("%Y-%m-%dT%H") for i in range(12)]
