"""A drop's files in the lake -> typed Parquet parts (warehouse) + rejected lines (quarantine).

Layout, for drop ``<name>`` and arrival group (wave) ``W``:
- ``<lake>/<name>/raw/dt=<date>/<time>Z_wave=<W>/<file>``: the files as landed (``landing.py``);
- ``<warehouse>/<name>/parsed/wave=<W>/<file>.parquet``: one typed part per raw file; its
  existence marks the file as parsed, so a late file costs the parse of that file only;
- ``<lake>/quarantine/<name>/rejected_lines/wave=<W>/<file>.parquet``: the file's rejected
  lines with line number and reason, ``.reason.json`` beside it;
- a file rejected as a whole (empty, unknown name, not in its encoding, ...) is moved to
  ``<lake>/quarantine/<its lake key>`` with ``<file>.reason.json``.

Files are parsed ``workers`` at a time, each streamed to its own part as soon as it is parsed:
memory is bounded by ``workers`` files, whatever the size of the group.
"""

import posixpath
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.sources.files.landing import Landing, landing_for, taken_at
from lakehouse.sources.files.parsed import ParsedFile
from lakehouse.sources.files.readers import parse_file
from lakehouse.sources.files.spec import DropSpec
from lakehouse.storage.quarantine import quarantine, quarantine_key, quarantined_file
from lakehouse.storage.store import Store

PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 1}

# (bytes, file name, wave start, when taken into the lake) -> the file's parse
Parser = Callable[[bytes, str, datetime, datetime | None], ParsedFile]


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


@dataclass(frozen=True)
class Layout:
    """Where a drop's parsed parts and rejected lines go."""

    name: str

    @property
    def parsed(self) -> str:
        return f"{self.name}/parsed"

    @property
    def rejected_lines(self) -> str:  # under the lake's quarantine
        return f"{self.name}/rejected_lines"

    @property
    def rejected(self) -> str:
        return quarantine_key(self.rejected_lines)

    def part_key(self, wave: str, name: str) -> str:
        return f"{self.parsed}/wave={wave}/{name}.parquet"


@dataclass(frozen=True)
class _Counts:
    """What comes back from parsing one file: counts only (memory stays bounded)."""

    key: str
    size: int
    uncompressed: int
    exact: bool
    problem: str | None
    accounted: bool
    counts: tuple[int, int, int]  # lines, accepted, rejected
    reasons: Counter


def _read_raw(store: Store, key: str) -> bytes:
    if store.is_local:
        with open(store.path(key), "rb") as f:
            return f.read()
    return store.read_bytes(key)


def _write(store: Store, key: str, table: pa.Table, options: dict) -> None:
    with store.atomic_open(key) as f:
        pq.write_table(table, f, **options)


def parse_files(
    lake: Store,
    warehouse: Store,
    landing: Landing,
    layout: Layout,
    wave: str,
    parse: Parser,
    *,
    full_refresh: bool = False,
    workers: int = 2,
    run_id: str = "",
    part_options: dict = PARQUET_OPTIONS,
) -> WaveParse:
    """Parse the wave's raw files that have no part yet (all of them if ``full_refresh``).
    One run per wave at a time: temporaries in its folders are a killed run's, removed."""
    for store, prefix in ((warehouse, layout.parsed), (lake, layout.rejected)):
        store.remove_temporaries(f"{prefix}/wave={wave}", older_than=time.time())
    raw = landing.raw_files(lake, wave)
    done = set()
    if not full_refresh:
        done = {posixpath.basename(k) for k in warehouse.keys(f"{layout.parsed}/wave={wave}")}
    todo = [k for k in raw if f"{posixpath.basename(k)}.parquet" not in done]
    stats = WaveParse(files=len(raw), already_parsed=len(raw) - len(todo))
    start, _ = landing.grouping.bounds(wave)

    def one(key: str) -> tuple:
        """Parse one file and write its part."""
        name = posixpath.basename(key)
        data = _read_raw(lake, key)
        parsed = parse(data, name, start, taken_at(key))
        if parsed.rejected.num_rows:
            reason = f"{parsed.rejected.num_rows} line(s) rejected, each with its reason"
            lines = f"{layout.rejected_lines}/wave={wave}/{name}.parquet"
            with quarantined_file(lake, lines, reason, source=lake.uri(key), run_id=run_id) as f:
                pq.write_table(parsed.rejected, f, **PARQUET_OPTIONS)
        if parsed.file_problem:
            quarantine(lake, key, parsed.file_problem, run_id=run_id)
        else:
            _write(warehouse, layout.part_key(wave, name), parsed.table, part_options)
        reasons = Counter(r.split(" '")[0] for r in parsed.rejected.column("reason").to_pylist())
        return _Counts(
            key,
            len(data),
            parsed.uncompressed_bytes,
            parsed.exact,
            parsed.file_problem,
            parsed.accounted,
            (parsed.lines, parsed.table.num_rows, parsed.rejected.num_rows),
            reasons,
        )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for c in pool.map(one, todo):
            stats.parsed += 1
            stats.exact_path += c.exact
            stats.bytes_in += c.size
            stats.bytes_uncompressed += c.uncompressed
            stats.lines += c.counts[0]
            stats.accepted += c.counts[1]
            stats.rejected += c.counts[2]
            stats.reasons.update(c.reasons)
            if c.problem:
                stats.quarantined[posixpath.basename(c.key)] = c.problem
            if not c.accounted:
                stats.unaccounted_files.append(c.key)
    return stats


def part_options(spec: DropSpec) -> dict:
    """Parquet options of a drop's parts: dictionary pages only for the columns with few
    values (the name's groups, ``file``, dates, bools: trying it on a nearly unique reference
    costs time for nothing), no statistics but on dates and times (what a reader prunes on)."""
    few = [c.name for c in spec.format.columns if c.type in ("date", "bool")]
    times = [c.name for c in spec.format.columns if c.type in ("date", "timestamp")]
    return {
        **PARQUET_OPTIONS,
        "use_dictionary": [*few, *spec.pattern.groupindex, "file"],
        "write_statistics": times or False,
    }


def parse_drop_wave(
    spec: DropSpec, lake: Store, warehouse: Store, wave: str, **options
) -> WaveParse:
    """Parse a tabular drop's (csv, jsonl, parquet) wave with :func:`parse_file`."""
    return parse_files(
        lake,
        warehouse,
        landing_for(spec),
        Layout(spec.name),
        wave,
        lambda data, name, _start, _arrived: parse_file(spec, data, name),
        part_options=part_options(spec),
        **options,
    )
