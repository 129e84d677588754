"""The five machine types' log formats, as data: one :class:`MachineFormat` per type.

Every format carries the same thirteen fields (the *canonical* fields, :data:`FIELDS`) in its
own order, with its own delimiter, timestamp notation, event and result codes, decimal mark,
header, line ending, byte-order mark and compression. Fields that do not apply to an event are
empty. ``docs/machine-log-formats.md`` is the prose version of this table; the generator
(:mod:`lakehouse_dev.simulate.machines`) and the parser
(:mod:`lakehouse.warehouse.machine_logs`) both read it, so they cannot drift apart.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


def _names(text: str) -> tuple[str, ...]:
    """``"a b c"`` -> ``("a", "b", "c")``: field lists, one line each."""
    return tuple(text.split())


def _events(test: str, prod: str, alarm: str) -> dict[str, str]:
    return dict(zip(EVENTS, (test, prod, alarm), strict=True))


def _steps(*steps: tuple[str, str, float, float]) -> tuple[Step, ...]:
    return tuple(Step(*s) for s in steps)


FORMATS: dict[str, MachineFormat] = {
    f.type: f
    for f in (
        MachineFormat(
            type="smt",
            prefix="SMT",
            title="SMT placement line (solder-paste inspection + pick-and-place)",
            delimiter="|",
            header=_names(
                "timestamp machine station event serial step attempt result value unit units "
                "cycle_s alarm"
            ),
            extension=".log",
            ts_kind="iso_z",
            ts_format="%Y-%m-%dT%H:%M:%SZ",  # with milliseconds: 2026-11-03T08:00:01.123Z
            events=_events("T", "P", "A"),
            results=("PASS", "FAIL"),
            stations=6,
            station_prefix="H",
            steps=_steps(
                ("paste_height", "um", 120.0, 8.0),
                ("paste_volume", "pct", 100.0, 6.0),
                ("offset_x", "um", 0.0, 15.0),
                ("offset_y", "um", 0.0, 15.0),
                ("rotation", "deg", 0.0, 0.4),
                ("pickup_vacuum", "kPa", -62.0, 3.0),
            ),
            alarms=("E101_FEEDER_EMPTY", "E204_NOZZLE_CLOG", "E310_VISION_FAIL"),
        ),
        MachineFormat(
            type="aoi",
            prefix="AOI",
            title="Automated optical inspection (Windows PC)",
            delimiter=",",
            columns=_names(
                "ts machine_id station_id serial event step result attempt value unit cycle_s "
                "units alarm"
            ),
            header=_names(
                "DateTime Machine Lane Board Event Inspection Verdict Try Score Unit CycleTime "
                "Boards AlarmCode"
            ),
            eol="\r\n",
            bom=True,
            extension=".csv",
            ts_kind="iso_naive",
            ts_format="%Y-%m-%d %H:%M:%S",  # with milliseconds: 2026-11-03 08:00:01.123 (UTC)
            events=_events("INSPECT", "OUTPUT", "ALARM"),
            results=("OK", "NG"),
            stations=2,
            station_prefix="L",
            steps=_steps(
                ("solder_joint", "score", 92.0, 4.0),
                ("polarity", "score", 97.0, 2.0),
                ("bridge", "score", 95.0, 3.0),
                ("missing_part", "score", 98.0, 1.5),
            ),
            alarms=("CONVEYOR_JAM", "CAMERA_TIMEOUT", "LIGHT_DEGRADED"),
        ),
        MachineFormat(
            type="ict",
            prefix="ICT",
            title="In-circuit tester (European vendor: ';' and decimal comma)",
            delimiter=";",
            columns=_names(
                "machine_id station_id ts event serial step attempt result value unit units "
                "cycle_s alarm"
            ),
            eol="\r\n",
            extension=".txt",
            ts_kind="strptime",
            ts_format="%d.%m.%Y %H:%M:%S",  # 03.11.2026 08:00:01 (UTC, whole seconds)
            decimal_comma=True,
            events=_events("TEST", "PROD", "ALRM"),
            results=("P", "F"),
            stations=4,
            station_prefix="F",
            steps=_steps(
                ("R101", "Ohm", 1000.0, 5.0),
                ("R205", "Ohm", 4700.0, 20.0),
                ("C22", "nF", 100.0, 3.0),
                ("C48", "nF", 10.0, 0.4),
                ("D3_VF", "V", 0.65, 0.02),
                ("SHORTS", "Ohm", 0.2, 0.05),
            ),
            alarms=("FIXTURE_OPEN", "PROBE_WEAR", "VACUUM_LOW"),
        ),
        MachineFormat(
            type="fct",
            prefix="FCT",
            title="Functional tester (Linux, tab-separated, gzip-rotated)",
            delimiter="\t",
            gzip=True,
            extension=".log.gz",
            ts_kind="epoch_ms",
            events=_events("test", "prod", "alarm"),
            results=("1", "0"),
            stations=8,
            station_prefix="S",
            steps=_steps(
                ("vcc_3v3", "V", 3.3, 0.03),
                ("vcc_5v", "V", 5.0, 0.05),
                ("idle_current", "mA", 42.0, 2.5),
                ("boot_time", "ms", 850.0, 40.0),
                ("rf_power", "dBm", 14.0, 0.6),
            ),
            alarms=("PSU_OVERCURRENT", "DUT_NO_BOOT", "SCANNER_ERROR"),
        ),
        MachineFormat(
            type="brn",
            prefix="BRN",
            title="Burn-in chamber controller (Windows export, gzip)",
            delimiter=",",
            columns=_names(
                "ts machine_id station_id event serial attempt step value unit result units "
                "cycle_s alarm"
            ),
            header=_names(
                "time chamber slot type sn run param reading uom status qty duration_s code"
            ),
            eol="\r\n",
            bom=True,
            gzip=True,
            extension=".csv.gz",
            ts_kind="strptime",
            ts_format="%Y/%m/%d %H:%M:%S",  # 2026/11/03 08:00:01 (UTC, whole seconds)
            events=_events("TST", "PRD", "ALM"),
            results=("PASS", "FAIL"),
            stations=12,
            station_prefix="SLOT",
            steps=_steps(
                ("chamber_temp", "C", 85.0, 0.8),
                ("humidity", "pct", 85.0, 1.5),
                ("leakage", "uA", 1.2, 0.2),
                ("voltage_drift", "mV", 0.0, 4.0),
            ),
            alarms=("TEMP_OVERSHOOT", "DOOR_OPEN", "HEATER_FAULT"),
        ),
    )
}
BY_PREFIX = {f.prefix: f for f in FORMATS.values()}

WAVE_HOURS = 2
WAVE_FORMAT = "%Y-%m-%dT%H"  # partition key of a wave: 2026-11-03T08
FILE_TS_FORMAT = "%Y%m%dT%H%M%S"
# <MACHINE>[_<YYYYMMDDTHHMMSS>][<extension>]: a name with no time is put in the wave of its
# modification time (by the landing sensor).
_NAME = re.compile(
    r"^(?P<machine>(?P<prefix>[A-Za-z]+)-\d+)(?:_(?P<ts>\d{8}T\d{6}))?(?P<ext>\..+)?$"
)


def file_name(fmt: MachineFormat, machine_no: int, started: datetime) -> str:
    """``SMT-0042_20261103T080000.log``: machine id, the file's start time (UTC), extension."""
    return f"{fmt.prefix}-{machine_no:04d}_{started.strftime(FILE_TS_FORMAT)}{fmt.extension}"


@dataclass(frozen=True)
class FileName:
    machine_id: str | None
    type: str | None  # None when the prefix is no known machine type
    started: datetime | None


def parse_file_name(name: str) -> FileName:
    """Machine, type and start time from a landing file's name (all None if it has none)."""
    match = _NAME.match(name.rsplit("/", 1)[-1])
    if not match:
        return FileName(None, None, None)
    fmt = BY_PREFIX.get(match["prefix"].upper())
    try:
        started = datetime.strptime(match["ts"], FILE_TS_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):  # no time in the name, or an impossible one
        started = None
    return FileName(match["machine"].upper(), fmt.type if fmt else None, started)


def wave_start(moment: datetime) -> datetime:
    """The start of the 2-hour wave holding ``moment`` (UTC)."""
    moment = moment.astimezone(UTC)
    return moment.replace(
        hour=moment.hour - moment.hour % WAVE_HOURS, minute=0, second=0, microsecond=0
    )


def wave_key(moment: datetime) -> str:
    return wave_start(moment).strftime(WAVE_FORMAT)


def wave_bounds(key: str) -> tuple[datetime, datetime]:
    start = datetime.strptime(key, WAVE_FORMAT).replace(tzinfo=UTC)
    return start, start + timedelta(hours=WAVE_HOURS)
