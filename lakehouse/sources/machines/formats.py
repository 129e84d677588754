"""The machine types' log formats: one YAML block per type (``types.yaml``), read into one
:class:`MachineFormat` each.

Every format carries the same thirteen fields (the *canonical* fields, :data:`FIELDS`) in its
own order, with its own delimiter, timestamp notation, event and result codes, decimal mark,
header, line ending, byte-order mark and compression. Fields that do not apply to an event are
empty. ``docs/machine-log-formats.md`` describes the five types, ``docs/file-drops.md`` the block;
the generator (:mod:`lakehouse_dev.simulate.machines`) and the parser
(:mod:`lakehouse.warehouse.machine_logs`) both read them, so they cannot drift apart.
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from lakehouse.sources.files.spec import drop_spec

# The canonical fields, in the order of the parsed (typed) table.
FIELDS = (
    "ts",  # event time, UTC
    "machine_id",  # e.g. SMT-0042; also in the file name
    "station_id",  # station (head, lane, slot) on the machine
    "event",  # TEST | PROD | ALARM (each format has its own codes)
    "serial",  # unit serial number (TEST, PROD)
    "step",  # test step (TEST)
    "attempt",  # 1 for a unit's first try at the step, 2.. for retests (TEST)
    "result",  # pass / fail (TEST; each format has its own codes)
    "value",  # measured value (TEST)
    "unit",  # unit of measure of value (TEST)
    "units",  # units produced by the cycle (PROD)
    "cycle_s",  # cycle time in seconds (PROD)
    "alarm",  # alarm code (ALARM)
)
EVENTS = ("TEST", "PROD", "ALARM")


@dataclass(frozen=True)
class Step:
    name: str
    unit: str
    mean: float
    sd: float


@dataclass(frozen=True, kw_only=True)
class MachineFormat:
    type: str  # lower-case type name, e.g. "smt"
    prefix: str  # machine id prefix, e.g. "SMT" (SMT-0042)
    title: str
    delimiter: str
    columns: tuple[str, ...] = FIELDS  # canonical field names in file order
    header: tuple[str, ...] | None = None  # the header line's names (same order), or no header
    eol: str = "\n"  # "\n" or "\r\n"
    bom: bool = False  # file starts with a UTF-8 byte-order mark
    gzip: bool = False  # file is gzip-compressed
    extension: str  # file name extension, e.g. ".log.gz"
    ts_kind: str  # "iso_z" (ISO-8601 + Z), "iso_naive" (UTC, no zone), "strptime", "epoch_ms"
    ts_format: str = ""  # strftime/strptime pattern (for iso_* and strptime)
    decimal_comma: bool = False  # decimal mark is ',' in value and cycle_s
    events: dict[str, str]  # canonical event -> code in the file
    results: tuple[str, str]  # (pass code, fail code)
    stations: int  # station ids are <station_prefix>1 .. <station_prefix><stations>
    station_prefix: str
    steps: tuple[Step, ...]
    alarms: tuple[str, ...]

    @property
    def ts_column(self) -> int:
        return self.columns.index("ts")


_TS_KINDS = ("iso_z", "iso_naive", "strptime", "epoch_ms")


def machine_type(block: dict) -> MachineFormat:
    """One machine type's YAML block (``types.yaml``, docs/file-drops.md) -> its format; a
    one-line error names the type and the field at fault."""
    block = dict(block)
    name = block.get("type", "?")
    try:
        simulate = block.pop("simulate", {})
        timestamp = block.pop("timestamp")
        results = block.pop("results")
        columns = tuple(str(block.pop("columns", " ".join(FIELDS))).split())
        header = block.pop("header", None)
        eol = "\r\n" if block.pop("crlf", False) else "\n"
        fmt = MachineFormat(
            **block,
            columns=columns,
            header=tuple(str(header).split()) if header else None,
            eol=eol,
            ts_kind=timestamp["kind"],
            ts_format=timestamp.get("format", ""),
            results=(str(results["pass"]), str(results["fail"])),
            stations=int(simulate.get("stations", 1)),
            station_prefix=str(simulate.get("station_prefix", "S")),
            steps=tuple(
                Step(str(n), str(u), float(m), float(sd))
                for n, u, m, sd in simulate.get("steps", ())
            ),
            alarms=tuple(str(a) for a in simulate.get("alarms", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"machine type {name!r}: invalid block ({exc})") from None
    problems = [
        sorted(fmt.columns) != sorted(FIELDS) and f"columns must be the fields {' '.join(FIELDS)}",
        fmt.header and len(fmt.header) != len(FIELDS) and "header must name 13 columns",
        fmt.ts_kind not in _TS_KINDS and f"timestamp.kind must be one of {', '.join(_TS_KINDS)}",
        sorted(fmt.events) != sorted(EVENTS) and f"events must map {', '.join(EVENTS)}",
        len(fmt.delimiter) != 1 and "delimiter must be one character",
    ]
    if problem := next((p for p in problems if p), None):
        raise ValueError(f"machine type {name!r}: {problem}")
    return fmt


def machine_types(blocks: list[dict]) -> dict[str, MachineFormat]:
    """Machine types by name from their YAML blocks."""
    types = {}
    for block in blocks:
        fmt = machine_type(block)
        if fmt.type in types or fmt.prefix in {f.prefix for f in types.values()}:
            raise ValueError(f"machine type {fmt.type!r}: type or prefix declared twice")
        types[fmt.type] = fmt
    return types


DROP_FILE = Path(__file__).with_name("drop.yaml")
SPEC = drop_spec(yaml.safe_load(DROP_FILE.read_text()))  # the machine-log drop
FORMATS: dict[str, MachineFormat] = machine_types(list(SPEC.format.types))
BY_PREFIX = {f.prefix: f for f in FORMATS.values()}

WAVES = SPEC.grouping
WAVE_HOURS = WAVES.hours
WAVE_FORMAT = WAVES.key_format  # partition key of a wave: 2026-11-03T08
FILE_TS_FORMAT = SPEC.time_format


def file_name(fmt: MachineFormat, machine_no: int, started: datetime) -> str:
    """``SMT-0042_20261103T080000.log``: machine id, the file's start time (UTC), extension."""
    return f"{fmt.prefix}-{machine_no:04d}_{started.strftime(FILE_TS_FORMAT)}{fmt.extension}"


@dataclass(frozen=True)
class FileName:
    machine_id: str | None
    type: str | None  # None when the prefix is no known machine type
    started: datetime | None


def parse_file_name(name: str, types: dict[str, MachineFormat] = FORMATS) -> FileName:
    """Machine, type (one of ``types``) and start time from a landing file's name (all None
    if it has none)."""
    match = SPEC.name_groups(name)
    if match is None:
        return FileName(None, None, None)
    fmt = next((f for f in types.values() if f.prefix == match["prefix"].upper()), None)
    started = SPEC.started(name)  # None: no time in the name, or an impossible one
    return FileName(match["machine"].upper(), fmt.type if fmt else None, started)


def wave_start(moment: datetime) -> datetime:
    """The start of the 2-hour wave holding ``moment`` (UTC)."""
    return WAVES.start(moment)


def wave_key(moment: datetime) -> str:
    return WAVES.key(moment)


def wave_bounds(key: str) -> tuple[datetime, datetime]:
    return WAVES.bounds(key)
