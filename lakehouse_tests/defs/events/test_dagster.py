"""The events path in Dagster, end to end: platform activity published on the bus -> `lakehouse
tick` (the `events_bus` sensor's run drains the bus into the lake and carries the events through
to the projections and the catalog) -> warehouse projections whose counts equal those
computed independently from the platform database."""

from collections import Counter, defaultdict
from decimal import Decimal

import dagster as dg
import pytest

from lakehouse.catalog.duckdb_file import open_catalog
from lakehouse.components.resources.event_bus import EventBus
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.defs.events.keys import BUS_KEY, lake_key, projection_key
from lakehouse.sources.events.buses import bus_from_url
from lakehouse.sources.events.schema import EVENT_TYPES
from lakehouse.sources.events.writer import write_heartbeat
from lakehouse.storage import Store
from lakehouse.storage.projections import read_current
from lakehouse_dev.simulate.events import publish_platform_events
from lakehouse_dev.simulate.platform import simulate
from lakehouse_dev.tick import tick
from lakehouse_tests.conftest import PROJECT_ROOT, load_definitions
from lakehouse_tests.defs.platform.helpers import db_rows
from lakehouse_tests.sources.events.helpers import read_events, read_quarantined

WORKSPACE = str(PROJECT_ROOT / "workspace.yaml")
TABLE_OF = {
    "application_submitted": "applications",
    "invoice_uploaded": "invoices",
    "underwriter_decided": "underwriter_decisions",
    "trade_funded": "trades",
    "payment_received": "payments",
}


@pytest.fixture
def events_env(settings, tmp_path, monkeypatch):
    """The local profile; the platform database the events come from is *not* the one the
    code location extracts (that one is missing, so only the events path runs)."""
    source_db = f"sqlite:///{tmp_path / 'source-platform.sqlite'}"
    monkeypatch.setenv("LAKEHOUSE_PLATFORM_DB_URL", f"sqlite:///{tmp_path / 'absent.sqlite'}")
    load_definitions()  # the code location the tick loads, for this environment
    return settings, source_db


def expected_funnel(db: str) -> dict:
    """hour -> (submitted, decided, approved, declined, funded), from the database rows."""
    counts = defaultdict(lambda: [0, 0, 0, 0, 0])
    for row in db_rows(db, "applications").values():
        counts[row["submitted_at"].replace(minute=0, second=0, microsecond=0)][0] += 1
    for row in db_rows(db, "underwriter_decisions").values():
        hour = counts[row["decided_at"].replace(minute=0, second=0, microsecond=0)]
        hour[1] += 1
        hour[2 if row["decision"] == "approved" else 3] += 1
    for row in db_rows(db, "trades").values():
        counts[row["funded_at"].replace(minute=0, second=0, microsecond=0)][4] += 1
    return {hour: tuple(c) for hour, c in counts.items()}


def expected_funded_volume(db: str) -> dict:
    """(date, currency) -> (trades, advance volume, fees), from the database rows."""
    invoices = db_rows(db, "invoices")
    out = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    for trade in db_rows(db, "trades").values():
        key = (trade["funded_at"].date(), invoices[trade["invoice_id"]]["currency"])
        out[key][0] += 1
        out[key][1] += trade["advance_amount"]
        out[key][2] += (trade["advance_amount"] * trade["fee_rate"]).quantize(Decimal("0.01"))
    return {k: tuple(v) for k, v in out.items()}


def funnel(warehouse: Store) -> dict:
    table = read_current(warehouse, "events/application_funnel").to_pylist()
    names = ("submitted", "decided", "approved", "declined", "funded")
    return {r["hour"]: tuple(r[n] for n in names) for r in table}


def funded_volume(warehouse: Store) -> dict:
    table = read_current(warehouse, "events/funded_volume").to_pylist()
    return {
        (r["event_date"], r["currency"]): (r["trades_funded"], r["advance_volume"], r["fee_amount"])
        for r in table
    }


def assert_lake_matches_database(lake: Store, db: str) -> None:
    for type_name, table in TABLE_OF.items():
        ids = read_events(lake, type_name).column("event_id").to_pylist()
        assert len(ids) == len(set(ids)) == len(db_rows(db, table)), type_name


def test_publish_tick_lake_projections_catalog(events_env, instance):
    settings, db = events_env
    simulate(db, days=6, seed=5)
    lake, warehouse = Store(settings.lake_url), Store(settings.warehouse_url)
    with bus_from_url(settings.bus_url) as bus:
        first = publish_platform_events(
            db, bus, count=10**6, advance=False, history=True, duplicates=0.05, malformed=0.02
        )
        assert first.duplicates and first.malformed  # the drill is in there

    runs = tick(WORKSPACE, instance)
    assert runs and all(r.status == "SUCCESS" for r in runs), [r.summary_line() for r in runs]
    # One run drains the bus and carries the events through to the projections and the
    # catalog: the lake-file sensors find nothing left to merge.
    by_sensor = Counter(r.instigator for r in runs)
    assert by_sensor["events_bus"] == 1
    assert not by_sensor["events_funnel_files"] and not by_sensor["events_funded_volume_files"]
    (drain,) = [r for r in runs if r.instigator == "events_bus"]
    built = {projection_key(n).to_user_string() for n in ("application_funnel", "funded_volume")}
    assert built | {"catalog/warehouse"} <= set(drain.asset_keys)

    assert_lake_matches_database(lake, db)
    assert funnel(warehouse) == expected_funnel(db)
    assert funded_volume(warehouse) == expected_funded_volume(db)
    quarantined = read_quarantined(lake)
    assert len(quarantined) >= 1 and all(n["reason"] for n in quarantined)
    observations = instance.fetch_observations(BUS_KEY, limit=10).records
    metas = [o.asset_observation.metadata for o in observations]
    assert any("messages_waiting" in m for m in metas)  # the sensor saw the bus
    meta = next(m for m in metas if "quarantined" in m)  # what the drain did
    assert meta["quarantined"].value == first.malformed
    assert meta["duplicates_dropped"].value == first.duplicates
    assert meta["events_written"].value == first.published
    # The catalog has a view per projection.
    with open_catalog(settings.catalog_url, [warehouse]) as con:
        funnel_sql = "SELECT sum(submitted) FROM events.application_funnel"
        (submitted,) = con.execute(funnel_sql).fetchone()
        (trades,) = con.execute("SELECT sum(trades_funded) FROM events.funded_volume").fetchone()
    assert submitted == len(db_rows(db, "applications"))
    assert trades == len(db_rows(db, "trades"))

    # more activity: only the new files are added to the projections
    simulate(db, days=2, seed=5)
    with bus_from_url(settings.bus_url) as bus:
        second = publish_platform_events(db, bus, count=10**6, advance=False)
    assert second.published > 0
    runs = tick(WORKSPACE, instance)
    assert runs and all(r.status == "SUCCESS" for r in runs)
    assert_lake_matches_database(lake, db)
    assert funnel(warehouse) == expected_funnel(db)
    assert funded_volume(warehouse) == expected_funded_volume(db)
    latest = instance.fetch_materializations(projection_key("funded_volume"), limit=1).records[0]
    merged = latest.asset_materialization.metadata["lake_rows_merged"].value
    assert merged == second.by_type["trade_funded"]
    drains = instance.fetch_materializations(lake_key("trade_funded"), limit=10).records
    assert len(drains) == 2

    assert tick(WORKSPACE, instance) == []  # nothing new: nothing runs


def _evaluate_bus_sensor(instance, bus_url: str, lake_url: str):
    from lakehouse.defs.events.sensors import events_bus

    context = dg.build_sensor_context(
        instance=instance,
        resources={"event_bus": EventBus(url=bus_url), "lake": ObjectStore(url=lake_url)},
        definitions=load_definitions(),
    )
    return events_bus(context)


def test_bus_sensor_skips_with_the_reason(settings, instance, cloud_env):
    # a queue that is not provisioned: the reason, not a failed tick
    result = _evaluate_bus_sensor(instance, "sqs://not-provisioned", settings.lake_url)
    assert isinstance(result, dg.SkipReason) and "does not exist" in result.skip_message
    # an empty bus
    result = _evaluate_bus_sensor(instance, settings.bus_url, settings.lake_url)
    assert isinstance(result, dg.SkipReason) and "no messages" in result.skip_message
    # messages, but the long-lived writer is running
    with bus_from_url(settings.bus_url) as bus:
        bus.publish([b"{}"])
    write_heartbeat(Store(settings.lake_url), "cli:host:1")
    result = _evaluate_bus_sensor(instance, settings.bus_url, settings.lake_url)
    assert isinstance(result, dg.SkipReason) and "cli:host:1" in result.skip_message
    Store(settings.lake_url).delete("events/_lake_writer/heartbeat.json")
    result = _evaluate_bus_sensor(instance, settings.bus_url, settings.lake_url)
    (request,) = result.run_requests
    assert request.run_key == "events_bus-1"


def test_every_event_type_has_a_lake_asset(defs):
    keys = {s.key for s in defs.resolve_all_asset_specs()}
    assert {lake_key(t) for t in EVENT_TYPES} <= keys
    assert {projection_key("application_funnel"), projection_key("funded_volume")} <= keys
