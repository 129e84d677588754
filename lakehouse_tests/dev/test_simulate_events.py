"""Events derived from the simulated platform: consistent with its database (every id they
refer to exists and was announced first), each row published once, in the order it happened,
and `lakehouse simulate events` / `lakehouse lake-writer` on the command line."""

import datetime as dt
import sqlite3
from collections import Counter

import sqlalchemy as sa
from click.testing import CliRunner

from lakehouse.cli import main
from lakehouse.sources.events.buses import bus_from_url
from lakehouse.sources.events.schema import parse
from lakehouse.sources.events.writer import LakeWriter
from lakehouse.sources.sql.db import connect
from lakehouse.storage.store import Store
from lakehouse_dev.simulate.events import ORDER, publish_platform_events, published
from lakehouse_dev.simulate.platform import SOURCE, simulate
from lakehouse_tests.defs.events.test_dagster import TABLE_OF
from lakehouse_tests.defs.platform.helpers import db_rows
from lakehouse_tests.sources.events.helpers import read_events

REFERS_TO = {  # payload field -> the event type that must have announced it
    "invoice_uploaded": {"application_id": "application_submitted"},
    "underwriter_decided": {"application_id": "application_submitted"},
    "trade_funded": {"invoice_id": "invoice_uploaded"},
    "payment_received": {"trade_id": "trade_funded"},
}
ENTITY = {  # the id field each type announces
    "application_submitted": "application_id",
    "invoice_uploaded": "invoice_id",
    "trade_funded": "trade_id",
}


def drain_bus(bus) -> list:
    events = []
    while batch := bus.receive(1000, visibility_timeout=60):
        events.extend(parse(m.body) for m in batch)
        bus.ack(batch)
    return events


def assert_consistent(events, db: str) -> None:
    """In publishing order: every referenced id exists in the database and was announced."""
    announced = {t: set() for t in ENTITY}
    for event in events:
        for field, announcing in REFERS_TO.get(event.type, {}).items():
            assert event.values[field] in announced[announcing], (event.type, field)
        if event.type in ENTITY:
            announced[event.type].add(event.values[ENTITY[event.type]])
    times = [(e.occurred_at, ORDER.index(e.type)) for e in events]
    assert times == sorted(times)
    invoices = db_rows(db, "invoices")
    for event in events:
        if event.type == "trade_funded":
            assert invoices[event.values["invoice_id"]]["currency"] == event.values["currency"]


def test_events_follow_the_database_in_order_each_row_once(tmp_path):
    db = f"sqlite:///{tmp_path / 'platform.sqlite'}"
    simulate(db, days=5, seed=3)
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        first = publish_platform_events(db, bus, count=150, advance=False, history=True)
        rest = publish_platform_events(db, bus, count=10**6, advance=False)
        none = publish_platform_events(db, bus, count=10, advance=False)
        events = drain_bus(bus)
    assert (first.published, none.published) == (150, 0)
    assert len(events) == first.published + rest.published
    assert_consistent(events, db)
    for type_name, table in TABLE_OF.items():
        ids = [e.values[next(iter(e.values))] for e in events if e.type == type_name]
        assert sorted(ids) == sorted(db_rows(db, table)), type_name
    trade = next(e for e in events if e.type == "trade_funded")
    row = db_rows(db, "trades")[trade.values["trade_id"]]
    assert trade.values["advance_amount"] == row["advance_amount"]
    assert trade.occurred_at.replace(tzinfo=None) == row["funded_at"]


def test_events_carry_the_platforms_clock_from_its_latest_day(tmp_path):
    path = tmp_path / "platform.sqlite"
    simulate(f"sqlite:///{path}", days=5, seed=3)
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        result = publish_platform_events(f"sqlite:///{path}", bus, count=10**6, advance=False)
        events = drain_bus(bus)
    # the platform's latest day and its activity, read with sqlite3
    con = sqlite3.connect(path)
    when = {
        "application_submitted": ("applications", "submitted_at"),
        "invoice_uploaded": ("invoices", "created_at"),
        "underwriter_decided": ("underwriter_decisions", "decided_at"),
        "trade_funded": ("trades", "funded_at"),
        "payment_received": ("payments", "paid_at"),
    }
    days = [con.execute(f"SELECT max(date({c})) FROM {t}").fetchone()[0] for t, c in when.values()]
    latest = max(d for d in days if d)
    expected = {
        name: con.execute(f"SELECT count(*) FROM {t} WHERE date({c}) = ?", (latest,)).fetchone()[0]
        for name, (t, c) in when.items()
    }
    con.close()
    assert {e.occurred_at.date().isoformat() for e in events} == {latest}
    assert Counter(e.type for e in events) == Counter({k: v for k, v in expected.items() if v})
    assert result.published == sum(expected.values()) > 0
    # the next publish carries on from there: the platform advanced one day, its events follow
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        more = publish_platform_events(f"sqlite:///{path}", bus, count=5, seed=3)
        later = drain_bus(bus)
    assert more.platform_days == 1
    next_day = (dt.date.fromisoformat(latest) + dt.timedelta(days=1)).isoformat()
    assert {e.occurred_at.date().isoformat() for e in later} == {next_day}


def test_the_platform_is_advanced_when_its_activity_runs_out(tmp_path):
    db = f"sqlite:///{tmp_path / 'platform.sqlite'}"  # does not exist yet
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        result = publish_platform_events(db, bus, count=600, seed=4)
        events = drain_bus(bus)
    assert result.published == len(events) == 600 and result.platform_days >= 2
    assert_consistent(events, db)


def test_republished_events_keep_their_ids_and_are_written_once(tmp_path):
    """A publisher crash before it recorded its progress republishes: same ids, one row."""
    db = f"sqlite:///{tmp_path / 'platform.sqlite'}"
    simulate(db, days=3, seed=3)
    lake = Store(str(tmp_path / "lake"))
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        once = publish_platform_events(db, bus, count=10**6, advance=False, history=True)
        with connect(db, SOURCE, write=True) as conn:
            conn.execute(sa.delete(published))  # progress lost
        again = publish_platform_events(db, bus, count=10**6, advance=False, history=True)
        assert again.published == once.published
        result = LakeWriter(bus, lake).drain()
    assert result.events_written == result.duplicates == once.published
    for type_name, table in TABLE_OF.items():
        assert read_events(lake, type_name).num_rows == len(db_rows(db, table))


def test_events_from_postgresql(pg_url, tmp_path):
    simulate(pg_url, days=3, seed=3)
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        publish_platform_events(pg_url, bus, count=10**6, advance=False, history=True)
        events = drain_bus(bus)
    assert_consistent(events, pg_url)
    assert sum(e.type == "invoice_uploaded" for e in events) == len(db_rows(pg_url, "invoices"))


def test_command_line(settings):
    runner = CliRunner()
    published = runner.invoke(main, ["simulate", "events", "--rate", "300", "--seconds", "1"])
    assert published.exit_code == 0, published.output
    assert f"published 300 event(s) to {settings.bus_url}" in published.output
    written = runner.invoke(main, ["lake-writer", "--once"])
    assert written.exit_code == 0, written.output
    assert "wrote 300 event(s)" in written.output
    again = runner.invoke(main, ["lake-writer", "--once"])
    assert "received 0, wrote 0 event(s)" in again.output


def test_command_line_names_a_missing_queue(settings, cloud_env, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_BUS_URL", "sqs://not-provisioned")
    result = CliRunner().invoke(main, ["simulate", "events", "--seconds", "1"])
    assert result.exit_code == 1
    assert "queue 'not-provisioned' does not exist" in result.output
