"""Hostile and impossible input, written by hand: each bad line or file is rejected with its
reason and its text as written, the good lines around it are kept, nothing is dropped."""

import gzip
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from lakehouse.warehouse.machine_logs import parse_bytes

WAVE = datetime(2026, 11, 30, 6, tzinfo=UTC)  # 2026-11-30T06: hours 06 and 07


def _rows(parsed) -> list[tuple[int, str, str]]:
    return [(r["line"], r["reason"], r["text"]) for r in parsed.rejected.to_pylist()]


# One impossible date (31 November) and one good line per format that writes dates.
IMPOSSIBLE = {
    "SMT-0001_20261130T060000.log": (
        "2026-11-31T06:10:41.000Z|SMT-0001|H1|A|||||||||E101\n"
        "2026-11-30T06:10:41.000Z|SMT-0001|H1|A|||||||||E101\n",
        "2026-11-31T06:10:41.000Z",
    ),
    "AOI-0002_20261130T060000.csv": (
        "2026-11-31 06:10:41.000,AOI-0002,L1,,ALARM,,,,,,,,JAM\r\n"
        "2026-11-30 06:10:41.000,AOI-0002,L1,,ALARM,,,,,,,,JAM\r\n",
        "2026-11-31 06:10:41.000",
    ),
    "ICT-0003_20261130T060000.txt": (
        "ICT-0003;F1;31.11.2026 06:10:41;ALRM;;;;;;;;;PROBE_WEAR\r\n"
        "ICT-0003;F1;30.11.2026 06:10:41;ALRM;;;;;;;;;PROBE_WEAR\r\n",
        "31.11.2026 06:10:41",
    ),
    "BRN-0005_20261130T060000.csv.gz": (
        "2026/11/31 06:28:51,BRN-0005,SLOT1,ALM,,,,,,,,,DOOR_OPEN\r\n"
        "2026/11/30 06:28:51,BRN-0005,SLOT1,ALM,,,,,,,,,DOOR_OPEN\r\n",
        "2026/11/31 06:28:51",
    ),
}


@pytest.mark.parametrize("name", sorted(IMPOSSIBLE))
def test_an_impossible_date_is_a_rejected_line_never_the_next_day(name):
    text, bad_ts = IMPOSSIBLE[name]
    data = gzip.compress(text.encode()) if name.endswith(".gz") else text.encode()
    parsed = parse_bytes(data, name, WAVE)
    assert [r["line"] for r in parsed.table.to_pylist()] == [2]
    assert parsed.table.column("ts").to_pylist()[0].day == 30
    assert _rows(parsed) == [(1, f"unparsable ts {bad_ts!r}", text.splitlines()[0])]


def test_february_30th_is_rejected_in_the_strptime_formats():
    text = "ICT-0003;F1;30.02.2026 06:10:41;ALRM;;;;;;;;;X\r\n"
    parsed = parse_bytes(text.encode(), "ICT-0003_20260302T060000.txt")
    assert parsed.table.num_rows == 0
    assert _rows(parsed) == [(1, "unparsable ts '30.02.2026 06:10:41'", text.strip())]


FCT = (
    "1793692801123\tFCT-0004\tS1\talarm\t\t\t\t\t\t\t\t\tA1\n"
    "1793692802123\tFCT-0004\tS1\talarm\t\t\t\t\t\t\t\t\tA2\n"
)
FCT_NAME = "FCT-0004_20261103T080000.log.gz"
FCT_WAVE = datetime(2026, 11, 3, 8, tzinfo=UTC)


def test_a_corrupt_second_gzip_member_is_a_rejected_line_the_first_is_kept():
    first = gzip.compress(FCT.encode())
    second = bytearray(gzip.compress(FCT.replace("A1", "A3").replace("A2", "A4").encode()))
    second[12:20] = b"\xff" * 8  # the deflate data of the second member, broken
    parsed = parse_bytes(first + bytes(second), FCT_NAME, FCT_WAVE)
    assert parsed.table.column("alarm").to_pylist() == ["A1", "A2"]
    ((line, reason, text),) = _rows(parsed)
    assert (line, text) == (0, "") and reason.startswith(f"unreadable gzip from byte {len(first)}")
    assert parsed.accounted and parsed.file_problem is None


def test_bytes_after_the_last_gzip_member_are_a_rejected_line():
    parsed = parse_bytes(gzip.compress(FCT.encode()) + b"garbage", FCT_NAME, FCT_WAVE)
    assert parsed.table.num_rows == 2
    assert _rows(parsed) == [(0, "7 bytes after the last gzip member are not gzip", "")]


def test_plain_text_under_a_gzip_format_is_rejected_as_a_file():
    parsed = parse_bytes(FCT.encode(), FCT_NAME, FCT_WAVE)
    assert parsed.file_problem == "not gzip-compressed, but the fct format is"
    assert parsed.table.num_rows == 0 and parsed.accounted


def test_a_gzip_bomb_is_refused_in_bounded_memory():
    member = gzip.compress(bytes(1 << 20), compresslevel=9)  # 1 MiB of zeros: ~1 KiB
    bomb = member * 1024  # 1 GiB of zeros in 1,024 members, ~1 MiB on disk
    tracemalloc.start()
    try:
        parsed = parse_bytes(bomb, FCT_NAME, FCT_WAVE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert parsed.file_problem.startswith("gzip inflates beyond")
    assert "gzip bomb" in parsed.file_problem
    assert peak < 300 << 20  # far from the 1 GiB the file inflates to


def test_a_file_name_with_no_time_is_parsed_by_its_machine_prefix():
    text = "2026-11-30T06:00:01.000Z|SMT-0042|H1|A|||||||||E101\n"
    parsed = parse_bytes(text.encode(), "SMT-0042.log", WAVE)
    assert parsed.file_problem is None and parsed.rejected.num_rows == 0
    assert parsed.table.column("machine_id").to_pylist() == ["SMT-0042"]
    assert parsed.table.column("machine_type").to_pylist() == ["smt"]


def test_the_text_of_an_empty_line_is_empty_a_line_of_delimiters_is_itself():
    text = (
        "ICT-0003;F1;30.11.2026 06:10:41;ALRM;;;;;;;;;X\r\n"
        "\r\n"
        ";;;;;;;;;;;;\r\n"
        "ICT-0003;F1;30.11.2026 06:10:42;ALRM;;;;;;;;;X\r\n"
    )
    parsed = parse_bytes(text.encode(), "ICT-0003_20261130T060000.txt", WAVE)
    assert [r["line"] for r in parsed.table.to_pylist()] == [1, 4]
    assert _rows(parsed) == [(2, "empty line", ""), (3, "missing ts", ";;;;;;;;;;;;")]


def test_a_line_that_is_not_utf8_is_rejected_the_others_kept():
    good = b"2026-11-30T06:00:01.000Z|SMT-0001|H1|A|||||||||E101\n"
    bad = b"2026-11-30T06:00:02.000Z|SMT-0001|H1|A|||||||||E\xff\xfe\n"
    short = b"\xc3\x28 garbage\n"  # invalid UTF-8 with the wrong field count
    parsed = parse_bytes(good + bad + short + good, "SMT-0001_20261130T060000.log", WAVE)
    assert [r["line"] for r in parsed.table.to_pylist()] == [1, 4]
    assert _rows(parsed) == [
        (2, "not UTF-8 (byte 49 of the line)", bad[:-1].decode(errors="backslashreplace")),
        (3, "not UTF-8 (byte 1 of the line)", "\\xc3( garbage"),
    ]
    assert parsed.accounted and parsed.file_problem is None


def test_a_binary_file_is_rejected_as_a_file_every_line_with_its_reason():
    binary = bytes((i * 151 + 7) % 256 for i in range(4096))  # no valid line in it
    parsed = parse_bytes(binary, "SMT-0001_20261130T060000.log", WAVE)
    assert parsed.table.num_rows == 0
    assert parsed.file_problem == f"no valid line ({parsed.rejected.num_rows} rejected)"
    assert parsed.rejected.num_rows == binary.count(b"\n") + 1  # + the unterminated last
    assert parsed.accounted


def test_a_time_far_from_the_wave_is_rejected_a_little_skew_is_not():
    lines = [
        "2026-11-30T05:59:59.500Z|SMT-0001|H1|A|||||||||E1",  # 0.5 s before the wave
        "2099-01-01T00:00:00.000Z|SMT-0001|H1|A|||||||||E2",  # a clock set wrong
        "2026-11-30T07:59:59.000Z|SMT-0001|H1|A|||||||||E3",
        "2026-11-30T04:00:00.000Z|SMT-0001|H1|A|||||||||E4",  # 2 h before the wave
    ]
    data = ("\n".join(lines) + "\n").encode()
    parsed = parse_bytes(data, "SMT-0001_20261130T060000.log", WAVE)
    assert parsed.table.column("alarm").to_pylist() == ["E1", "E3"]
    allowed = "(allowed 2026-11-30T05:00:00Z .. 2026-11-30T09:00:00Z)"
    assert _rows(parsed) == [
        (2, f"ts out of range '2099-01-01T00:00:00.000Z' {allowed}", lines[1]),
        (4, f"ts out of range '2026-11-30T04:00:00.000Z' {allowed}", lines[3]),
    ]
    # the skew is configurable, and a file taken early bounds its times by its arrival
    arrived = WAVE + timedelta(minutes=30)
    strict = parse_bytes(data, "SMT-0001_20261130T060000.log", WAVE, arrived, timedelta(0))
    assert strict.table.column("alarm").to_pylist() == []
    assert strict.file_problem == "no valid line (4 rejected)"


@pytest.mark.parametrize(
    ("name", "line", "expected"),
    [  # (file, line as written, its time in UTC or None if rejected as unparsable)
        ("SMT-0001", "2026-11-30T07:00:01+01:00|SMT-0001|H1|A|||||||||E", "06:00:01"),
        ("SMT-0001", "2026-11-30T06:00:01|SMT-0001|H1|A|||||||||E", "06:00:01"),
        ("SMT-0001", "2026-11-30 06:00Z|SMT-0001|H1|A|||||||||E", "06:00:00"),
        ("SMT-0001", "2026-11-30T06:00:01.1234Z|SMT-0001|H1|A|||||||||E", None),  # 4 digits
        ("AOI-0002", "2026-11-30 06:00:01.5,AOI-0002,L1,,ALARM,,,,,,,,J", "06:00:01.500000"),
        ("AOI-0002", "2026-11-30 07:00:01+01:00,AOI-0002,L1,,ALARM,,,,,,,,J", None),  # a zone
        ("ICT-0003", "ICT-0003;F1;3.11.2026 06:10:41;ALRM;;;;;;;;;X", None),  # not zero-padded
    ],
)
def test_timestamps_are_read_as_documented(name, line, expected):
    good = {
        "SMT-0001": "2026-11-30T06:30:00.000Z|SMT-0001|H1|A|||||||||E",
        "AOI-0002": "2026-11-30 06:30:00.000,AOI-0002,L1,,ALARM,,,,,,,,J",
        "ICT-0003": "ICT-0003;F1;30.11.2026 06:30:00;ALRM;;;;;;;;;X",
    }[name]
    extension = {"SMT-0001": ".log", "AOI-0002": ".csv", "ICT-0003": ".txt"}[name]
    data = f"{line}\r\n{good}\r\n" if name != "SMT-0001" else f"{line}\n{good}\n"
    parsed = parse_bytes(data.encode(), f"{name}_20261130T060000{extension}", WAVE)
    times = [
        t.strftime("%H:%M:%S.%f").removesuffix(".000000") for t in parsed.table["ts"].to_pylist()
    ]
    if expected is None:
        assert times == ["06:30:00"]
        assert [r[1].split(" '")[0] for r in _rows(parsed)] == ["unparsable ts"]
    else:
        assert times == [expected, "06:30:00"] and _rows(parsed) == []
