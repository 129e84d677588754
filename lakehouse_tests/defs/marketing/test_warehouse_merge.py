"""The projections' merge rules: a report day replaced by its newest pull, a record by its
newest version (the generalised current-state merge)."""

import datetime as dt

import pyarrow as pa

from lakehouse.sources.google_analytics.schema import TRAFFIC_DAILY
from lakehouse.sources.salesforce.schema import ACCOUNT
from lakehouse.warehouse.current_state import merge

D1, D2, D3, D4 = (dt.date(2026, 3, d) for d in (1, 2, 3, 4))


def _report(*rows: tuple) -> pa.Table:
    """traffic_daily rows: (date, source, sessions)."""
    schema = TRAFFIC_DAILY.arrow_schema
    return pa.table(
        {
            "property_id": ["1"] * len(rows),
            "date": [r[0] for r in rows],
            "session_source": [r[1] for r in rows],
            "session_medium": ["organic"] * len(rows),
            "session_campaign_name": ["(organic)"] * len(rows),
            "sessions": [r[2] for r in rows],
            "total_users": [r[2] for r in rows],
            "new_users": [0] * len(rows),
            "engaged_sessions": [0] * len(rows),
            "key_events": [0.0] * len(rows),
        },
        schema=schema,
    )


def _rows(state: pa.Table) -> list[tuple]:
    return [(r["date"], r["session_source"], r["sessions"]) for r in state.to_pylist()]


def test_a_re_pulled_day_replaces_its_earlier_pull_wholesale():
    schema, key = TRAFFIC_DAILY.arrow_schema, ("property_id", "date")
    first = _report((D1, "google", 10), (D2, "google", 20), (D2, "bing", 5), (D3, "google", 1))
    # GA reprocessed 2 and 3 March: google revised, bing gone (folded into another row).
    second = _report((D2, "google", 24), (D3, "google", 30), (D3, "bing", 2))
    merged = merge(None, {"a/1": first, "a/2": second}, schema, key=key, version=None)
    assert _rows(merged) == [
        (D1, "google", 10),
        (D2, "google", 24),
        (D3, "bing", 2),
        (D3, "google", 30),
    ]

    # Incrementally: the previous state counts as older than any new batch.
    third = _report((D3, "google", 31), (D4, "google", 40))
    again = merge(merged, {"a/3": third}, schema, key=key, version=None)
    assert _rows(again) == [
        (D1, "google", 10),
        (D2, "google", 24),
        (D3, "google", 31),
        (D4, "google", 40),
    ]


def _accounts(*rows: tuple) -> pa.Table:
    """account rows: (id, name, system_modstamp)."""
    columns = {f.name: [None] * len(rows) for f in ACCOUNT.arrow_schema}
    columns["id"] = [r[0] for r in rows]
    columns["name"] = [r[1] for r in rows]
    columns["is_deleted"] = [False] * len(rows)
    for stamp in ("created_date", "last_modified_date", "system_modstamp"):
        columns[stamp] = [r[2] for r in rows]
    return pa.table(columns, schema=ACCOUNT.arrow_schema)


def test_a_record_keeps_its_newest_version_by_system_modstamp():
    t = dt.datetime(2026, 3, 1, 9)
    first = _accounts(("A", "Oak", t), ("B", "Elm", t))
    second = _accounts(("A", "Oak Ltd", t + dt.timedelta(hours=1)), ("B", "Elm (old)", t))
    merged = merge(
        None, {"b/1": first, "b/2": second}, ACCOUNT.arrow_schema, version="system_modstamp"
    )
    # A: the newer version; B: a tie on SystemModstamp goes to the later batch.
    assert [(r["id"], r["name"]) for r in merged.to_pylist()] == [
        ("A", "Oak Ltd"),
        ("B", "Elm (old)"),
    ]
