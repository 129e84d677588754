"""The marketing domain end to end in Dagster, against the local fake APIs: lake assets
materialise the served data, the lake sensor carries new batches to the projections, the
warehouse can join leads to platform companies; failures and missing configuration are clear."""

import datetime as dt

import dagster as dg
import duckdb
import pyarrow as pa
import pytest

from lakehouse.components.resources.google_analytics import GoogleAnalyticsResource
from lakehouse.components.resources.salesforce import SalesforceResource
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.storage import Store
from lakehouse.storage.projections import read_current
from lakehouse.warehouse.company_matching import with_company_keys
from lakehouse_dev.fake_apis import FakeAPIs, simulate_marketing
from lakehouse_dev.simulate.platform import simulate
from lakehouse_tests.conftest import load_definitions
from lakehouse_tests.defs.platform.helpers import db_rows, materialize

SEED = 4
ENV = [
    "SALESFORCE_INSTANCE_URL",
    "SALESFORCE_ACCESS_TOKEN",
    "GOOGLE_ANALYTICS_PROPERTY_ID",
    "GOOGLE_ANALYTICS_TOKEN",
    "GOOGLE_ANALYTICS_BASE_URL",
]
LAKE = [
    "lake/salesforce/lead",
    "lake/salesforce/account",
    "lake/salesforce/opportunity",
    "lake/google_analytics/traffic_daily",
    "lake/google_analytics/landing_pages_daily",
]
WAREHOUSE = {
    "leads": "Lead",
    "accounts": "Account",
    "opportunities": "Opportunity",
}


@pytest.fixture
def unconfigured(settings, monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return settings


@pytest.fixture
def apis(unconfigured, monkeypatch):
    """The platform simulated, its marketing data served, the environment pointing at it."""
    # Recent simulated dates: GA pulls complete days within its backfill window up to today.
    start = dt.date.today() - dt.timedelta(days=30)
    simulate(unconfigured.platform_db_url, days=10, seed=SEED, start=start)
    data_dir = unconfigured.home / "marketing_apis"
    simulate_marketing(unconfigured.platform_db_url, seed=SEED).data.save(data_dir)
    fake = FakeAPIs(data_dir=data_dir).start()
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.stop()


def _state(settings, name: str) -> pa.Table:
    return read_current(Store(settings.warehouse_url), f"marketing/{name}")


def _expected_records(fake: FakeAPIs, sobject: str) -> dict[str, tuple]:
    return {
        r["Id"]: (r["Status"] if sobject == "Lead" else r.get("Name"), r["SystemModstamp"][:19])
        for r in fake.salesforce.records[sobject]
    }


def _warehouse_records(settings, name: str) -> dict[str, tuple]:
    column = "status" if name == "leads" else "name"
    return {
        r["id"]: (r[column], r["system_modstamp"].isoformat(timespec="seconds"))
        for r in _state(settings, name).to_pylist()
    }


def _sessions(fake: FakeAPIs) -> int:
    return sum(f["sessions"] for f in fake.google_analytics.facts)


def _sensor(defs, settings, instance, cursor):
    sensor = defs.get_repository_def().get_sensor_def("marketing_lake_files")
    context = dg.build_sensor_context(
        cursor=cursor, resources={"lake": ObjectStore(url=settings.lake_url)}, instance=instance
    )
    return sensor(context)


def test_extract_merge_and_carry_new_data_through(apis, unconfigured, instance):
    settings, fake = unconfigured, apis
    defs = load_definitions()
    before = _sensor(defs, settings, instance, None)
    assert isinstance(before, dg.SkipReason)
    warehouse = [f"warehouse/marketing/{name}" for name in (*WAREHOUSE, "web_traffic_daily")]
    materialize(defs, instance, *LAKE, *warehouse, "warehouse/marketing/landing_pages_daily")

    for name, sobject in WAREHOUSE.items():
        assert _warehouse_records(settings, name) == _expected_records(fake, sobject), name
    traffic = _state(settings, "web_traffic_daily")
    assert pa.compute.sum(traffic.column("sessions")).as_py() == _sessions(fake)
    pages = _state(settings, "landing_pages_daily")
    assert pa.compute.sum(pages.column("sessions")).as_py() == _sessions(fake)

    # The warehouse joins leads to platform companies on the normalised keys.
    companies = pa.Table.from_pylist(list(db_rows(settings.platform_db_url, "companies").values()))
    companies = with_company_keys(companies, "name", "country", "registration_number")
    con = duckdb.connect()
    con.register("leads", _state(settings, "leads"))
    con.register("companies", companies.select(["id", "company_key", "registration_key"]))
    (matched,) = con.execute(
        "SELECT count(DISTINCT l.id) FROM leads l JOIN companies c "
        "ON l.registration_key = c.registration_key OR l.company_key = c.company_key"
    ).fetchone()
    expected = simulate_marketing(settings.platform_db_url, seed=SEED).leads_matching_platform
    assert matched == expected > 0

    # The platform moves on; the APIs serve the new activity (the server reloads its file).
    first = _sensor(defs, settings, instance, None)
    assert not first.run_requests  # what is in the lake is merged: the cursor only moves
    simulate(settings.platform_db_url, days=2, seed=SEED)
    simulate_marketing(settings.platform_db_url, seed=SEED).data.save(fake.data_dir)
    materialize(defs, instance, *LAKE)
    assert fake.soql[-1].split(" WHERE ")[1].startswith("SystemModstamp >= ")
    # Only the new batches are requested.
    (request,) = _sensor(defs, settings, instance, first.cursor).run_requests
    assert {k.to_user_string() for k in request.asset_selection} == {
        *warehouse,
        "warehouse/marketing/landing_pages_daily",
    }
    materialize(defs, instance, *[k.to_user_string() for k in request.asset_selection])
    for name, sobject in WAREHOUSE.items():
        assert _warehouse_records(settings, name) == _expected_records(fake, sobject), name
    traffic = _state(settings, "web_traffic_daily")
    assert pa.compute.sum(traffic.column("sessions")).as_py() == _sessions(fake)
    assert max(traffic.column("date").to_pylist()) == max(
        dt.datetime.strptime(f["date"], "%Y%m%d").date() for f in fake.google_analytics.facts
    )


def _failure(result) -> str:
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return event.step_failure_data.user_failure_data.description


def test_api_errors_fail_the_run_with_the_clients_message(
    apis, unconfigured, instance, monkeypatch
):
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "revoked")
    defs = load_definitions()
    result = materialize(defs, instance, "lake/salesforce/lead", raise_on_error=False)
    assert not result.success
    assert "set a valid token in SALESFORCE_ACCESS_TOKEN" in _failure(result)
    fake = apis
    fake.google_analytics.rename_metric("keyEvents", "conversions")
    result = materialize(
        defs, instance, "lake/google_analytics/traffic_daily", raise_on_error=False
    )
    assert "metric 'keyEvents' is not valid" in _failure(result)
    lake = Store(unconfigured.lake_url)
    assert lake.keys("salesforce") == [] and lake.keys("google_analytics") == []


def test_unconfigured_sources_skip_without_failing_and_say_why(unconfigured, instance):
    defs = load_definitions()
    result = materialize(
        defs, instance, "lake/salesforce/lead", "lake/google_analytics/traffic_daily",
        "warehouse/marketing/leads",
    )  # fmt: skip
    lead = result.asset_materializations_for_node("lake__salesforce__lead")[0]
    assert lead.metadata["not_configured"].value == (
        "Salesforce is not configured (SALESFORCE_INSTANCE_URL)"
    )
    assert Store(unconfigured.lake_url).keys("salesforce") == []
    assert _state(unconfigured, "leads").num_rows == 0  # exists, empty, for the catalog

    schedules = {s.name: s for s in defs.get_repository_def().schedule_defs}
    for name, resource, enabled in [
        ("salesforce_hourly", "salesforce", SalesforceResource(instance_url="https://x")),
        ("google_analytics_daily", "google_analytics", GoogleAnalyticsResource(property_id="1")),
    ]:
        schedule = schedules[name]
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        configured = {resource: defs.resources[resource]}  # from the (empty) environment
        skipped = schedule.evaluate_tick(dg.build_schedule_context(resources=configured))
        assert "is not configured: set" in skipped.skip_message
        ticked = schedule.evaluate_tick(dg.build_schedule_context(resources={resource: enabled}))
        assert len(ticked.run_requests) == 1
