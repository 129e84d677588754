"""Each tabular drop format parsed from hand-made files; bad input rejected with its reason."""

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakehouse.sources.files.readers import parse_file
from lakehouse.sources.files.spec import SpecError, drop_spec

BANK = {
    "name": "bank",
    "pattern": r"statement_(?P<account>[A-Z]{2}\d{2}[A-Z0-9]+)_(?P<statement_date>\d{8})\.csv",
    "time_group": "statement_date",
    "time_format": "%Y%m%d",
    "grouping": "daily",
    "format": {
        "kind": "csv",
        "delimiter": ";",
        "encoding": "cp1252",
        "decimal": ",",
        "thousands": ".",
        "nulls": ["", "-"],
        "trailer": r"SUMME;(?P<rows>\d+);.*",
        "columns": [
            {"name": "Buchungstag", "type": "date", "format": "%d.%m.%Y", "required": True},
            {"name": "Referenz", "required": True},
            {"name": "Auftraggeber"},
            {"name": "Betrag", "type": "decimal(18,2)", "required": True},
            {"name": "Waehrung"},
        ],
    },
}
NAME = "statement_DE89370400440532013000_20260302.csv"


def bank(text: str, name: str = NAME, encoding: str = "cp1252"):
    return parse_file(drop_spec(BANK), text.encode(encoding), name)


def rows(parsed, *columns):
    return [tuple(r[c] for c in columns) for r in parsed.table.to_pylist()]


def rejected(parsed):
    return [(r["line"], r["reason"], r["text"]) for r in parsed.rejected.to_pylist()]


def test_bank_csv_with_its_quirks():
    parsed = bank(
        "Buchungstag;Referenz;Auftraggeber;Betrag;Waehrung\r\n"
        '02.03.2026;PAY-1001;"Müller; Söhne GmbH";1.234,50;EUR\r\n'
        "02.03.2026;PAY-1002;-;-17,05;EUR\r\n"
        "03.03.2026;PAY-1003;Zoë Ltd;0,99;-\r\n"
        "SUMME;3;1.218,44\r\n"
    )
    assert parsed.file_problem is None and parsed.accounted
    assert rows(parsed, "Buchungstag", "Referenz", "Auftraggeber", "Betrag", "Waehrung") == [
        (date(2026, 3, 2), "PAY-1001", "Müller; Söhne GmbH", Decimal("1234.50"), "EUR"),
        (date(2026, 3, 2), "PAY-1002", None, Decimal("-17.05"), "EUR"),
        (date(2026, 3, 3), "PAY-1003", "Zoë Ltd", Decimal("0.99"), None),
    ]
    assert rows(parsed, "account", "statement_date", "line")[0] == (
        "DE89370400440532013000",
        "20260302",
        2,
    )
    assert parsed.table.schema.field("Betrag").type == pa.decimal128(18, 2)


def test_bank_csv_of_a_day_without_bookings_is_whole_and_empty():
    parsed = bank("Buchungstag;Referenz;Auftraggeber;Betrag;Waehrung\r\nSUMME;0;0,00\r\n")
    assert parsed.file_problem is None and parsed.accounted
    assert parsed.table.num_rows == 0 and parsed.rejected.num_rows == 0
    assert parsed.table.schema.field("Betrag").type == pa.decimal128(18, 2)


def test_bank_csv_bad_lines_rejected_the_rest_kept():
    parsed = bank(
        "Buchungstag;Referenz;Auftraggeber;Betrag;Waehrung\n"
        "02.03.2026;PAY-1;A;1,00;EUR\n"
        "31.02.2026;PAY-2;B;2,00;EUR\n"
        "02.03.2026;PAY-3;C;3,001;EUR\n"
        "02.03.2026;;D;4,00;EUR\n"
        "02.03.2026;PAY-5;E;5,00\n"
        "\n"
        "02.03.2026;PAY-7;G;7,00;EUR\n"
        "SUMME;7;x\n"
    )
    assert rows(parsed, "Referenz", "line") == [("PAY-1", 2), ("PAY-7", 8)]
    assert rejected(parsed) == [
        (3, "unparsable Buchungstag '31.02.2026'", "31.02.2026;PAY-2;B;2,00;EUR"),
        (4, "unparsable Betrag '3,001'", "02.03.2026;PAY-3;C;3,001;EUR"),
        (5, "missing Referenz", "02.03.2026;;D;4,00;EUR"),
        (6, "expected 5 fields, found 4", "02.03.2026;PAY-5;E;5,00"),
        (7, "empty line", ""),
    ]
    assert parsed.accounted and parsed.exact


@pytest.mark.parametrize(
    ("text", "name", "reason"),
    [
        ("", NAME, "empty file"),
        ("Buchungstag;Referenz\nSUMME;0;0\n", NAME, "header 'Buchungstag;Referenz' is not"),
        (
            "Buchungstag;Referenz;Auftraggeber;Betrag;Waehrung\n02.03.2026;P;A;1,00;EUR\n",
            NAME,
            "no trailer line matching",
        ),
        (
            "Buchungstag;Referenz;Auftraggeber;Betrag;Waehrung\n02.03.2026;P;A;1,00;EUR\n"
            "SUMME;2;1,00\n",
            NAME,
            "trailer says 2 data lines, the file has 1",
        ),
        ("whatever", "kontoauszug.csv", "file name does not match"),
        ("\x00\x01\x02garbage\n", NAME, "header"),
    ],
)
def test_bank_csv_whole_file_problems(text, name, reason):
    parsed = bank(text, name)
    assert parsed.file_problem.startswith(reason)
    assert parsed.table.num_rows == 0 and parsed.accounted
    assert rejected(parsed) == [(0, parsed.file_problem, "")]


def test_not_in_declared_encoding_is_a_file_problem():
    spec = drop_spec({**BANK, "format": {**BANK["format"], "encoding": "utf-8"}})
    data = "Buchungstag;Referenz;Auftraggeber;Betrag;Waehrung\n02.03.2026;P;Müller;1,00;EUR\n"
    parsed = parse_file(spec, data.encode("cp1252"), NAME)
    assert parsed.file_problem == "not utf-8: byte 65 (line 2) cannot be decoded"


JSONL = {
    "name": "partner_events",
    "pattern": r"events-(?P<day>\d{4}-\d{2}-\d{2})\.jsonl",
    "format": {
        "kind": "jsonl",
        "columns": [
            {"name": "id", "type": "int", "required": True},
            {"name": "at", "type": "timestamp", "required": True},
            {"name": "amount", "type": "float"},
            {"name": "ok", "type": "bool"},
            {"name": "tags"},
        ],
    },
}


def test_jsonl_hand_made():
    data = (
        b'{"id": 1, "at": "2026-03-02T08:00:00Z", "amount": 12.5, "ok": true, "tags": ["a"]}\n'
        b'{"id": 2, "at": "2026-03-02 09:30:00", "ok": false, "extra": 1}\n'
        b'{"id": "x3", "at": "2026-03-02T10:00:00+01:00"}\n'
        b'{"id": 4, "at": "2026-03-02T10:00:00Z", "amount": "lots"}\n'
        b"[1, 2]\n"
        b'{"id": 6, "at": \n'
        b"\n"
        b'{"at": "2026-03-02T11:00:00Z"}\n'
    )
    parsed = parse_file(drop_spec(JSONL), data, "events-2026-03-02.jsonl")
    assert rows(parsed, "id", "at", "amount", "ok", "tags", "day", "line") == [
        (1, datetime(2026, 3, 2, 8, tzinfo=UTC), 12.5, True, '["a"]', "2026-03-02", 1),
        (2, datetime(2026, 3, 2, 9, 30, tzinfo=UTC), None, False, None, "2026-03-02", 2),
    ]
    reasons = [(line, reason.split(":")[0]) for line, reason, _ in rejected(parsed)]
    assert reasons == [
        (3, "unparsable id 'x3'"),
        (4, "unparsable amount 'lots'"),
        (5, "not a JSON object but list"),
        (6, "invalid JSON"),
        (7, "empty line"),
        (8, "missing id"),
    ]
    assert parsed.accounted


PARQUET = {
    "name": "partner_parquet",
    "pattern": r"(?P<batch>\w+)\.parquet",
    "format": {
        "kind": "parquet",
        "columns": [{"name": "sku", "required": True}, {"name": "qty", "type": "int"}],
    },
}


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def test_parquet_hand_made_and_bad():
    data = _parquet(pa.table({"sku": ["A-1", None, "C-3"], "qty": ["7", "8", "many"]}))
    parsed = parse_file(drop_spec(PARQUET), data, "b1.parquet")
    assert rows(parsed, "sku", "qty", "batch", "line") == [("A-1", 7, "b1", 1)]
    assert rejected(parsed) == [(2, "missing sku", ""), (3, "unparsable qty 'many'", "")]
    missing = parse_file(drop_spec(PARQUET), _parquet(pa.table({"sku": ["A"]})), "b2.parquet")
    assert missing.file_problem == "column(s) qty missing"
    garbage = parse_file(drop_spec(PARQUET), b"PAR1 not really", "b3.parquet")
    assert garbage.file_problem.startswith("not a Parquet file")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grouping": "5h"}, "grouping '5h'"),
        ({"format": {"kind": "xml"}}, "format.kind 'xml'"),
        ({"format": {"kind": "csv", "columns": [{"name": "a", "type": "money"}]}}, "money"),
        ({"time_group": "nope"}, "time_group 'nope'"),
    ],
)
def test_invalid_declarations_name_the_field(change, message):
    with pytest.raises(SpecError, match=message):
        drop_spec({**BANK, **change})


@pytest.mark.parametrize("drop", [JSONL, PARQUET], ids=["jsonl", "parquet"])
@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"", None, "empty file"),
        (b'{"id": 1}\n', "unknown.txt", "file name does not match"),
    ],
)
def test_whole_file_problems_in_every_format(drop, data, name, reason):
    name = name or ("events-2026-03-02.jsonl" if drop is JSONL else "b1.parquet")
    parsed = parse_file(drop_spec(drop), data, name)
    assert parsed.file_problem.startswith(reason) and parsed.table.num_rows == 0
    assert parsed.accounted


def test_jsonl_not_in_its_encoding_and_garbage():
    spec = drop_spec(JSONL)
    latin = parse_file(
        spec, '{"id": 1, "tags": "Grüße"}\n'.encode("latin-1"), "events-2026-03-02.jsonl"
    )
    assert latin.file_problem == "not utf-8: byte 22 (line 1) cannot be decoded"
    garbage = parse_file(spec, b"<html>503</html>\n", "events-2026-03-02.jsonl")
    assert garbage.file_problem == "no valid line (1 rejected)"
    assert garbage.rejected.column("reason").to_pylist()[0].startswith("invalid JSON")


def test_bank_csv_quote_left_open_rejects_the_lines_it_swallows_and_a_bare_cr_the_file():
    parsed = bank(
        "Buchungstag;Referenz;Auftraggeber;Betrag;Waehrung\r\n"
        "02.03.2026;PAY-1;-;1,00;EUR\r\n"
        '02.03.2026;PAY-2;"Open;2,50;EUR\r\n'
        "02.03.2026;PAY-3;-;3,50;EUR\r\n"
        "SUMME;3;7,00\r\n"
    )
    assert parsed.file_problem is None and parsed.accounted
    assert rows(parsed, "Referenz", "line") == [("PAY-1", 2)]
    assert [(line, text) for line, _, text in rejected(parsed)] == [
        (3, '02.03.2026;PAY-2;"Open;2,50;EUR'),
        (4, "02.03.2026;PAY-3;-;3,50;EUR"),
    ]
    cr = bank("Buchungstag;Referenz;Auftraggeber;Betrag;Waehrung\r\n02.03\r.2026;P;-;1,00;EUR\r\n")
    assert cr.file_problem == "line 2: a carriage return inside a line (lines end in LF or CRLF)"


def test_bank_csv_mangled_never_stops_the_parse():
    """Bytes deleted, inserted (quotes, delimiters, CR, LF, NUL, Latin-1) or overwritten: each
    mangled statement is parsed or rejected with reasons, never an exception, and every line
    is accounted for (a row, a rejected line, or the whole file quarantined)."""
    import random

    good = (
        "Buchungstag;Referenz;Auftraggeber;Betrag;Waehrung\r\n"
        "02.03.2026;PAY-1;Zoë;1,00;EUR\r\n"
        "02.03.2026;PAY-2;-;2,50;EUR\r\n"
        "SUMME;2;3,50\r\n"
    ).encode("cp1252")
    rnd = random.Random(20261203)
    for _ in range(1500):
        data = bytearray(good)
        for _ in range(rnd.randint(1, 6)):
            at = rnd.randrange(len(data))
            kind = rnd.random()
            if kind < 0.4:
                del data[at]
            elif kind < 0.8:
                data.insert(at, rnd.choice(b'";\r\n\x00,.-9aZ\xff'))
            else:
                data[at] = rnd.randrange(256)
        parsed = parse_file(drop_spec(BANK), bytes(data), NAME)
        if parsed.file_problem is None:
            assert parsed.accounted, bytes(data)
        else:
            assert parsed.table.num_rows == 0 and parsed.rejected.num_rows >= 1, bytes(data)
