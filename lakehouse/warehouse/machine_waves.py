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

The loop over a wave's files is the file drops' one (``file_drops.parse_files``) with the
machine-log parser.
"""

from datetime import timedelta

import pyarrow as pa

from lakehouse.sources.files.landing import Landing
from lakehouse.sources.machines.formats import FORMATS, WAVE_HOURS, MachineFormat, wave_bounds
from lakehouse.sources.machines.landing import MACHINES
from lakehouse.storage.duck import connect
from lakehouse.storage.quarantine import is_reason
from lakehouse.storage.store import Store
from lakehouse.warehouse.file_drops import PARQUET_OPTIONS, Layout, WaveParse, parse_files
from lakehouse.warehouse.machine_logs import (
    MAX_CLOCK_SKEW,
    PARSED_SCHEMA,
    REJECTED_SCHEMA,
    kpi_sql,
    parse_bytes,
)

LAYOUT = Layout("machines")
PARSED_PREFIX = LAYOUT.parsed
REJECTED_PREFIX = LAYOUT.rejected
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


def part_key(wave: str, name: str) -> str:
    return LAYOUT.part_key(wave, name)


def rejected_key(wave: str, name: str) -> str:
    """The file's rejected lines: their key in the lake."""
    return f"{REJECTED_PREFIX}/wave={wave}/{name}.parquet"


def parse_wave(
    lake: Store,
    warehouse: Store,
    wave: str,
    *,
    full_refresh: bool = False,
    workers: int = 2,
    run_id: str = "",
    skew: timedelta = MAX_CLOCK_SKEW,
    types: dict[str, MachineFormat] = FORMATS,
    landing: Landing = MACHINES,
    layout: Layout = LAYOUT,
) -> WaveParse:
    """Parse the wave's raw files that have no part yet (all of them if ``full_refresh``),
    each as a machine log of one of ``types`` (the drop's ``delimited_log`` blocks)."""
    return parse_files(
        lake,
        warehouse,
        landing,
        layout,
        wave,
        lambda data, name, start, arrived: parse_bytes(data, name, start, arrived, skew, types),
        full_refresh=full_refresh,
        workers=workers,
        run_id=run_id,
        part_options=PART_OPTIONS,
    )


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
