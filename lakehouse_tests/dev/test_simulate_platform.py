"""The platform simulation (determinism, increments, invariants, PostgreSQL) and what a
developer is told when its database is missing or empty."""

import datetime as dt
import sqlite3
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from lakehouse.cli import main
from lakehouse.sources.sql.db import MissingDatabase, MissingFile, MissingTable, connect
from lakehouse_dev.simulate import platform_schema as schema
from lakehouse_dev.simulate.platform import (
    DEFAULT_START,
    SOURCE,
    explain,
    simulate,
    simulated_clock,
    state,
)

SIMULATE_HINT = "`uv run lakehouse simulate platform`"
TABLES = {**schema.TABLES, "_simulation": state}
FLOW_TABLES = ("applications", "invoices", "trades")
LEGAL = {
    "applications": {("submitted", "approved"), ("submitted", "declined")},
    "invoices": {("uploaded", "funded"), ("uploaded", "rejected")},
    "trades": {("live", "repaid"), ("live", "defaulted")},
}
MUTABLE = {
    "applications": {"status", "decided_at", "updated_at"},
    "invoices": {"status", "updated_at"},
    "trades": {"status", "settled_at", "updated_at"},
}

Snapshot = dict[str, dict[int, dict[str, Any]]]


def snapshot(url: str) -> Snapshot:
    """Every table's rows by id, read with a plain engine (not the code under test)."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return {
                name: {r.id: r._asdict() for r in conn.execute(sa.select(t).order_by(t.c.id))}
                for name, t in TABLES.items()
            }
    finally:
        eng.dispose()


def timestamps(row: dict[str, Any]) -> list[dt.datetime]:
    return [v for v in row.values() if isinstance(v, dt.datetime)]


@pytest.fixture(scope="module")
def two_calls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Snapshot, Snapshot, dict]:
    """A sqlite DB (in a not-yet-existing dir) after 70 days, then after 40 more days."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sim') / 'nested' / 'platform.db'}"
    simulate(url, days=70)
    before = snapshot(url)
    counts = simulate(url, days=40)
    return before, snapshot(url), counts


def test_same_seed_and_calls_give_identical_tables(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / name}.db" for name in ("a", "b", "c")]
    for url in urls[:2]:
        simulate(url, days=25, seed=11)
        simulate(url, days=10, seed=11)
    simulate(urls[2], days=35, seed=12)
    a, b, c = map(snapshot, urls)
    assert all(a[name] for name in schema.TABLES)
    assert a == b
    dumps = ["\n".join(sqlite3.connect(tmp_path / f"{n}.db").iterdump()) for n in ("a", "b")]
    assert dumps[0] == dumps[1]
    assert a["applications"] != c["applications"]


def test_result_does_not_depend_on_how_days_are_split(tmp_path: Path) -> None:
    split, whole = f"sqlite:///{tmp_path / 'split.db'}", f"sqlite:///{tmp_path / 'whole.db'}"
    for days in (3, 1, 4):
        simulate(split, days=days)
    simulate(whole, days=8)
    assert snapshot(split) == snapshot(whole)


def test_second_call_inserts_and_updates(two_calls: tuple[Snapshot, Snapshot, dict]) -> None:
    before, after, counts = two_calls
    for name in schema.TABLES:
        new = after[name].keys() - before[name].keys()
        changed = [i for i in before[name] if before[name][i] != after[name][i]]
        assert before[name].keys() <= after[name].keys()
        assert counts[f"{name}.inserted"] == len(new)
        assert counts[f"{name}.updated"] == len(changed)
        if name in FLOW_TABLES:
            assert new and changed, name
        elif name in ("companies", "payments", "underwriter_decisions", "trade_allocations"):
            assert new and not changed, name
    assert after["_simulation"][1]["clock"] == dt.datetime(2026, 4, 21)  # 2026-01-01 + 110 days


def test_later_call_writes_strictly_later_timestamps(
    two_calls: tuple[Snapshot, Snapshot, dict],
) -> None:
    before, after, _ = two_calls
    horizon = max(ts for t in schema.TABLES for r in before[t].values() for ts in timestamps(r))
    assert horizon < before["_simulation"][1]["clock"]
    for name in schema.TABLES:
        for i, row in after[name].items():
            old = before[name].get(i)
            if old is None:
                assert min(timestamps(row)) > horizon, (name, i)
            elif old != row:
                assert row["updated_at"] > horizon, (name, i)
                changed = {c for c in row if row[c] != old[c]}
                assert changed <= MUTABLE[name], (name, i, changed)
                assert (old["status"], row["status"]) in LEGAL[name], (name, i)


def test_invariants(two_calls: tuple[Snapshot, Snapshot, dict]) -> None:
    db = two_calls[1]
    companies, apps, invoices, trades = (db[t] for t in ("companies", *FLOW_TABLES))
    for name in schema.TABLES:
        for row in db[name].values():
            assert row["created_at"] <= row["updated_at"]
            assert all(v >= 0 for v in row.values() if isinstance(v, Decimal)), (name, row)

    roles = Counter(c["role"] for c in companies.values())
    assert roles["seller"] >= 150 and roles["debtor"] >= 300 and len(db["investors"]) == 20
    per_day = Counter(a["submitted_at"].date() for a in apps.values())
    assert len(per_day) == 110 and all(30 <= n <= 60 for n in per_day.values())

    decisions = defaultdict(list)
    for d in db["underwriter_decisions"].values():
        decisions[d["application_id"]].append(d)
    for a in apps.values():
        assert companies[a["seller_id"]]["role"] == "seller"
        if a["status"] == "submitted":
            assert a["decided_at"] is None and a["id"] not in decisions
        else:
            [d] = decisions[a["id"]]
            assert (d["decision"], d["decided_at"]) == (a["status"], a["decided_at"])
    assert decisions.keys() <= apps.keys()

    face_by_app = defaultdict(Decimal)
    for inv in invoices.values():
        app = apps[inv["application_id"]]
        face_by_app[app["id"]] += inv["face_value"]
        assert inv["seller_id"] == app["seller_id"]
        assert companies[inv["debtor_id"]]["role"] == "debtor"
        assert 30 <= (inv["due_date"] - inv["issue_date"]).days <= 120
        assert inv["currency"] in ("GBP", "EUR")
        expected = {"submitted": {"uploaded"}, "declined": {"rejected"}}
        assert inv["status"] in expected.get(app["status"], {"uploaded", "funded", "rejected"})
    assert all(face_by_app[i] == a["requested_amount"] for i, a in apps.items())

    trade_of = {t["invoice_id"]: t for t in trades.values()}
    assert len(trade_of) == len(trades)
    assert {i for i, inv in invoices.items() if inv["status"] == "funded"} == trade_of.keys()

    allocated = defaultdict(list)
    for al in db["trade_allocations"].values():
        assert al["investor_id"] in db["investors"]
        allocated[al["trade_id"]].append(al["amount"])
    paid = defaultdict(list)
    for p in db["payments"].values():
        paid[p["trade_id"]].append(p)
    for t in trades.values():
        inv = invoices[t["invoice_id"]]
        assert 1 <= len(allocated[t["id"]]) <= 3
        assert sum(allocated[t["id"]]) == t["advance_amount"] < inv["face_value"]
        payments = paid[t["id"]]
        for p in payments:
            assert p["days_late"] == (p["paid_at"].date() - inv["due_date"]).days >= 0
        if t["status"] == "repaid":
            [p] = payments
            assert (p["amount"], p["paid_at"]) == (inv["face_value"], t["settled_at"])
        elif t["status"] == "defaulted":
            assert t["settled_at"].date() > inv["due_date"]
            assert sum(p["amount"] for p in payments) < inv["face_value"]
        else:
            assert t["settled_at"] is None
    statuses = Counter(t["status"] for t in trades.values())
    assert statuses["repaid"] and statuses["defaulted"] and statuses["live"]
    assert any(p["days_late"] > 0 for p in db["payments"].values())


def test_changing_the_seed_of_an_existing_database_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    simulate(url, days=1, seed=1)
    with pytest.raises(ValueError, match="seed=1"):
        simulate(url, days=1, seed=2)


def test_cli_refuses_another_seed_in_one_line(tmp_path: Path) -> None:
    env = {"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_PROFILE": "local"}
    first = CliRunner().invoke(
        main, ["simulate", "platform", "--days", "1", "--seed", "1"], env=env
    )
    assert first.exit_code == 0, first.output
    other = CliRunner().invoke(
        main, ["simulate", "platform", "--days", "1", "--seed", "2"], env=env
    )
    assert other.exit_code == 1
    assert other.output.strip().splitlines() == [
        f"Error: the platform database was simulated with seed=1, start={DEFAULT_START}; "
        "continue with the same values or start a new database"
    ]
    assert not isinstance(other.exception, ValueError)  # no traceback, a clean exit


def test_postgresql_matches_sqlite(pg_url: str, tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'p.db'}"
    for url in (pg_url, sqlite_url):
        simulate(url, days=40)
    assert simulate(pg_url, days=25) == simulate(sqlite_url, days=25)
    pg = snapshot(pg_url)
    assert pg["trades"] and pg == snapshot(sqlite_url)
    with connect(pg_url, SOURCE) as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(schema.invoices)) == len(
            pg["invoices"]
        )


def test_a_missing_or_empty_platform_database_says_how_to_make_it(
    pg_url: str, tmp_path: Path
) -> None:
    absent, empty = tmp_path / "absent.db", tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # an empty database file
    with pytest.raises(MissingFile) as no_file:
        simulated_clock(f"sqlite:///{absent}")
    with pytest.raises(MissingTable) as no_table:
        simulated_clock(f"sqlite:///{empty}")
    no_db = sa.make_url(pg_url).set(database=f"{sa.make_url(pg_url).database}_absent")
    with pytest.raises(MissingDatabase) as no_database:
        simulate(no_db.render_as_string(hide_password=False), days=1)
    assert explain(no_file.value) == (
        f"source platform: database file {absent} does not exist; create it with {SIMULATE_HINT}"
    )
    assert explain(no_table.value) == (
        f"source platform: database {empty} lacks a table (no such table: _simulation); "
        f"fill it with {SIMULATE_HINT}"
    )
    assert explain(no_database.value).endswith(f"; CREATE DATABASE it, then run {SIMULATE_HINT}")
    assert not absent.exists()
