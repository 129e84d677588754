"""Each machine format parsed from a small hand-written file, quirks included; bad input kept."""

import gzip
from datetime import UTC, datetime

import numpy as np
import pytest

from lakehouse.sources.machines.formats import FORMATS
from lakehouse.warehouse import machine_logs
from lakehouse.warehouse.machine_logs import PARSED_SCHEMA, REJECTED_SCHEMA, parse_bytes
from lakehouse_dev.simulate.machines import Quirks, render_file

WAVE = datetime(2026, 3, 2, 8, tzinfo=UTC)
BOM = "\ufeff"


def ms(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Per type: file name, file text (as written, before gzip), expected rows (subset of fields).
# Every file has the format's quirks; each ends with a line cut off mid-write.
HAND_WRITTEN = {
    "smt": (
        "SMT-0001_20260302T080000.log",
        "timestamp|machine|station|event|serial|step|attempt|result|value|unit|units|cycle_s|alarm\n"
        "2026-03-02T08:00:01.250Z|SMT-0001|H1|T|SN1|paste_height|1|PASS|121.5|um|||\n"
        "2026-03-02T08:00:02.000Z|SMT-0001|H1|P|SN1||||||4|31.25|\n"
        "2026-03-02T08:00:03.5Z|SMT-0001|H2|A|||||||||E101_FEEDER_EMPTY\n"
        "2026-03-02T08:00:04.000Z|SMT-0001|H2|T|SN2|offs",
    ),
    "aoi": (
        "AOI-0002_20260302T080000.csv",
        BOM + "DateTime,Machine,Lane,Board,Event,Inspection,Verdict,Try,Score,Unit,CycleTime,"
        "Boards,AlarmCode\r\n"
        "2026-03-02 08:00:01.250,AOI-0002,L1,SN1,INSPECT,bridge,NG,2,71.5,score,,,\r\n"
        "2026-03-02 08:00:02.000,AOI-0002,L1,SN1,OUTPUT,,,,,,28.5,1,\r\n"
        "2026-03-02 08:00:03.500,AOI-0002,L2,,ALARM,,,,,,,,CONVEYOR_JAM\r\n"
        "2026-03-02 08:00:04.000,AOI-0002,L2,SN2,INSP",
    ),
    "ict": (
        "ICT-0003_20260302T080000.txt",
        "ICT-0003;F1;02.03.2026 08:00:01;TEST;SN1;R101;1;P;1000,25;Ohm;;;\r\n"
        "ICT-0003;F1;02.03.2026 08:00:02;PROD;SN1;;;;;;2;30,5;\r\n"
        "ICT-0003;F2;02.03.2026 08:00:03;ALRM;;;;;;;;;PROBE_WEAR\r\n"
        "ICT-0003;F2;02.03.2026 08:00:0",
    ),
    "fct": (
        "FCT-0004_20260302T080000.log.gz",
        "1772438401250\tFCT-0004\tS1\ttest\tSN1\tvcc_3v3\t1\t0\t3.1\tV\t\t\t\n"
        "1772438402000\tFCT-0004\tS1\tprod\tSN1\t\t\t\t\t\t1\t29.75\t\n"
        "1772438403500\tFCT-0004\tS2\talarm\t\t\t\t\t\t\t\t\tDUT_NO_BOOT\n"
        "1772438404000\tFCT-0004\tS2\tte",
    ),
    "brn": (
        "BRN-0005_20260302T080000.csv.gz",
        BOM + "time,chamber,slot,type,sn,run,param,reading,uom,status,qty,duration_s,code\r\n"
        "2026/03/02 08:00:01,BRN-0005,SLOT1,TST,SN1,1,leakage,1.25,uA,PASS,,,\r\n"
        "2026/03/02 08:00:02,BRN-0005,SLOT1,PRD,SN1,,,,,,8,3600.5,\r\n"
        "2026/03/02 08:00:03,BRN-0005,SLOT2,ALM,,,,,,,,,DOOR_OPEN\r\n"
        "2026/03/02 08:00:04,BRN-0005,SLOT2,TST,SN2,1,humidity,85.",
    ),
}
EXPECTED = {  # (ts, station, event, attempt, passed, value, units, cycle_s, alarm)
    "smt": [
        ("2026-03-02 08:00:01.250", "H1", "TEST", 1, True, 121.5, None, None, None),
        ("2026-03-02 08:00:02", "H1", "PROD", None, None, None, 4, 31.25, None),
        (
            "2026-03-02 08:00:03.500",
            "H2",
            "ALARM",
            None,
            None,
            None,
            None,
            None,
            "E101_FEEDER_EMPTY",
        ),
    ],
    "aoi": [
        ("2026-03-02 08:00:01.250", "L1", "TEST", 2, False, 71.5, None, None, None),
        ("2026-03-02 08:00:02", "L1", "PROD", None, None, None, 1, 28.5, None),
        ("2026-03-02 08:00:03.500", "L2", "ALARM", None, None, None, None, None, "CONVEYOR_JAM"),
    ],
    "ict": [
        ("2026-03-02 08:00:01", "F1", "TEST", 1, True, 1000.25, None, None, None),
        ("2026-03-02 08:00:02", "F1", "PROD", None, None, None, 2, 30.5, None),
        ("2026-03-02 08:00:03", "F2", "ALARM", None, None, None, None, None, "PROBE_WEAR"),
    ],
    "fct": [
        ("2026-03-02 08:00:01.250", "S1", "TEST", 1, False, 3.1, None, None, None),
        ("2026-03-02 08:00:02", "S1", "PROD", None, None, None, 1, 29.75, None),
        ("2026-03-02 08:00:03.500", "S2", "ALARM", None, None, None, None, None, "DUT_NO_BOOT"),
    ],
    "brn": [
        ("2026-03-02 08:00:01", "SLOT1", "TEST", 1, True, 1.25, None, None, None),
        ("2026-03-02 08:00:02", "SLOT1", "PROD", None, None, None, 8, 3600.5, None),
        ("2026-03-02 08:00:03", "SLOT2", "ALARM", None, None, None, None, None, "DOOR_OPEN"),
    ],
}
FIELDS = ("ts", "station_id", "event", "attempt", "passed", "value", "units", "cycle_s", "alarm")


def _bytes(machine_type: str) -> tuple[str, bytes]:
    name, text = HAND_WRITTEN[machine_type]
    data = text.encode()
    return name, gzip.compress(data) if FORMATS[machine_type].gzip else data


@pytest.mark.parametrize("machine_type", sorted(FORMATS))
def test_each_format_parses_its_quirky_hand_written_file(machine_type):
    name, data = _bytes(machine_type)
    parsed = parse_bytes(data, name, WAVE)
    assert parsed.table.schema == PARSED_SCHEMA
    rows = parsed.table.to_pylist()
    got = [tuple(r[f] for f in FIELDS) for r in rows]
    want = [(ms(e[0]), *e[1:]) for e in EXPECTED[machine_type]]
    assert got == want
    assert {r["machine_type"] for r in rows} == {machine_type}
    assert {r["file"] for r in rows} == {name}
    header = 1 if FORMATS[machine_type].header else 0
    assert [r["line"] for r in rows] == [1 + header, 2 + header, 3 + header]
    # the last line, cut off mid-write, is rejected with its number: nothing is dropped
    (bad,) = parsed.rejected.to_pylist()
    assert bad["line"] == 4 + header
    assert bad["reason"] == "truncated last line (no line ending)"
    assert HAND_WRITTEN[machine_type][1].endswith(bad["text"])
    assert parsed.lines == 4 and parsed.accounted and not parsed.exact


# Files are parsed in chunks of lines, straight to types, a chunk with a bad value again as
# text: 1 byte makes every line a chunk of its own, 1 MiB the whole file one chunk.
CHUNKS = pytest.mark.parametrize("chunk_bytes", [1, 4096, 1 << 20])


@CHUNKS
def test_bad_lines_are_rejected_with_line_and_reason_and_good_lines_kept(chunk_bytes, monkeypatch):
    monkeypatch.setattr(machine_logs, "CHUNK_BYTES", chunk_bytes)
    header = (
        "timestamp|machine|station|event|serial|step|attempt|result|value|unit|units|cycle_s|alarm"
    )
    good = "2026-03-02T08:00:01.000Z|SMT-0001|H1|T|SN1|paste_height|1|PASS|121.5|um|||"
    lines = [
        header,
        good,  # 2
        "#### buffer overrun ####",  # 3: garbage
        "2026-03-02T08:00:01.000Z|SMT-0001|H1|T|SN1|paste_height|1|PASS",  # 4: field count
        good.replace("|121.5|", "|12,1x|"),  # 5: number
        good.replace("2026-03-02T08", "2026-13-45T25"),  # 6: timestamp
        good.replace("|PASS|", "|MAYBE|"),  # 7: result code
        good.replace("|T|", "|Q|"),  # 8: event code
        good.replace("|H1|", "||"),  # 9: missing station
        "",  # 10: empty line
        good,  # 11
    ]
    name = "SMT-0001_20260302T080000.log"
    parsed = parse_bytes(("\n".join(lines) + "\n").encode(), name, WAVE)
    assert [r["line"] for r in parsed.table.to_pylist()] == [2, 11]
    rejected = {r["line"]: r["reason"] for r in parsed.rejected.to_pylist()}
    assert rejected == {
        3: "expected 13 fields, found 1",
        4: "expected 13 fields, found 8",
        5: "unparsable value '12,1x'",
        6: "unparsable ts '2026-13-45T25:00:01.000Z'",
        7: "unknown result code 'MAYBE'",
        8: "unknown event code 'Q'",
        9: "missing station_id",
        10: "empty line",
    }
    texts = {r["line"]: r["text"] for r in parsed.rejected.to_pylist()}
    assert texts[5] == lines[4] and texts[3] == lines[2]
    assert parsed.rejected.schema == REJECTED_SCHEMA
    assert set(parsed.rejected.column("file").to_pylist()) == {name}
    assert parsed.accounted and parsed.exact


def test_empty_file_unknown_type_and_broken_gzip_are_rejected_whole():
    empty = parse_bytes(b"", "ICT-0003_20260302T080000.txt", WAVE)
    assert empty.file_problem == "empty file"
    assert [(r["line"], r["reason"]) for r in empty.rejected.to_pylist()] == [(0, "empty file")]

    unknown = parse_bytes(b"a 1\nb 2\n", "XRY-0042_20260302T080000.log", WAVE)
    assert unknown.file_problem.startswith("unknown machine type 'XRY'")
    assert [r["line"] for r in unknown.rejected.to_pylist()] == [1, 2]
    assert set(unknown.rejected.column("machine_type").to_pylist()) == {"xry"}
    assert unknown.table.num_rows == 0 and unknown.accounted

    broken = parse_bytes(b"\x1f\x8b\x08\x00garbage", "FCT-0004_20260302T080000.log.gz", WAVE)
    assert broken.file_problem.startswith("unreadable gzip")


def test_a_truncated_gzip_stream_is_salvaged_up_to_the_cut():
    name, text = HAND_WRITTEN["fct"]
    full = gzip.compress(text.rsplit("\n", 1)[0].encode() + b"\n")
    parsed = parse_bytes(full[:-8], name, WAVE)  # the writer died before the gzip trailer
    assert parsed.file_problem is None
    assert parsed.table.num_rows == 3 and parsed.rejected.num_rows == 0


@CHUNKS
@pytest.mark.parametrize("machine_type", sorted(FORMATS))
def test_generated_files_parse_and_every_bad_line_is_caught(machine_type, chunk_bytes, monkeypatch):
    monkeypatch.setattr(machine_logs, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(5)
    quirks = Quirks(truncated_share=1.0, bad_line_rate=0.002)
    data, _size, n, n_bad, truncated = render_file(FORMATS[machine_type], 7, WAVE, 0.2, rng, quirks)
    parsed = parse_bytes(data, f"{FORMATS[machine_type].prefix}-0007_20260302T080000.x", WAVE)
    assert truncated and n_bad > 0
    assert parsed.lines == n
    assert parsed.rejected.num_rows == n_bad + 1  # + the truncated last line
    assert parsed.accounted
    ts = parsed.table.column("ts").to_pylist()
    assert min(ts) >= WAVE and ts == sorted(ts)
