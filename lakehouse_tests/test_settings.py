"""The foundation's flow, end to end, on every profile: the same code on a laptop, on AWS
(moto's S3 server), on Azure (Azurite) and on both at once, by configuration only."""

import pytest

from lakehouse.catalog.duckdb_file import open_catalog
from lakehouse.replica.replicate import reconcile
from lakehouse.settings import Settings, SettingsError
from lakehouse.storage import Store
from lakehouse.storage.projections import read_current
from lakehouse_dev.simulate.platform import simulate
from lakehouse_dev.simulate.platform_schema import TABLES
from lakehouse_dev.tick import tick
from lakehouse_tests.catalog.external import assert_glue_matches_catalog
from lakehouse_tests.conftest import PROJECT_ROOT, load_definitions
from lakehouse_tests.defs.platform.helpers import by_id, db_rows

WORKSPACE = str(PROJECT_ROOT / "workspace.yaml")


@pytest.fixture(params=["local", "aws", "azure", "multicloud"])
def profile(request, settings, monkeypatch) -> Settings:
    if request.param != "local":
        cloud = request.getfixturevalue("cloud_env")
        s3, az = cloud.s3_url, cloud.az_url
        primary = s3 if request.param == "aws" else az
        monkeypatch.setenv("LAKEHOUSE_PROFILE", request.param)
        monkeypatch.setenv("LAKEHOUSE_LAKE_URL", f"{primary}/raw")
        monkeypatch.setenv("LAKEHOUSE_WAREHOUSE_URL", f"{primary}/warehouse")
        monkeypatch.setenv("LAKEHOUSE_LANDING_URL", f"{primary}/landing")
        if request.param == "multicloud":
            monkeypatch.setenv("LAKEHOUSE_REPLICA_URL", f"{s3}/raw-replica")
        if request.param == "aws":  # this test's own Glue databases
            monkeypatch.setenv(
                "LAKEHOUSE_GLUE_DATABASE_PREFIX", f"{cloud.s3_bucket.replace('-', '_')}_"
            )
    return Settings.from_env()


def _assert_warehouse_matches_database(profile: Settings) -> None:
    warehouse = Store(profile.warehouse_url)
    for table in TABLES:
        state = by_id(read_current(warehouse, f"platform/{table}"))
        assert state == db_rows(profile.platform_db_url, table), table
    with open_catalog(profile.catalog_url, [warehouse]) as con:
        (applications,) = con.execute("SELECT count(*) FROM platform.applications").fetchone()
        (submitted,) = con.execute(
            "SELECT sum(submitted) FROM origination.applications_daily"
        ).fetchone()
        if profile.glue_database_prefix is not None:  # what Athena reads equals the views
            assert assert_glue_matches_catalog(con, profile.glue_database_prefix) >= 10
    assert applications == submitted == len(db_rows(profile.platform_db_url, "applications"))
    if profile.replica_url:
        drift = reconcile(Store(profile.lake_url), Store(profile.replica_url), repair=False)
        assert drift.in_sync, drift.summary()


@pytest.mark.timeout(900)
def test_platform_flow_on_every_profile(profile, instance):
    load_definitions()  # the code location the tick loads, for this profile
    simulate(profile.platform_db_url, days=8, seed=6)
    runs = tick(WORKSPACE, instance)
    assert runs and all(run.status == "SUCCESS" for run in runs)
    _assert_warehouse_matches_database(profile)

    simulate(profile.platform_db_url, days=2, seed=6)
    runs = tick(WORKSPACE, instance)
    assert runs and all(run.status == "SUCCESS" for run in runs)
    _assert_warehouse_matches_database(profile)
    assert tick(WORKSPACE, instance) == []


def test_glue_is_on_where_the_warehouse_is_on_s3_or_a_prefix_is_named():
    on_s3 = Settings.from_env({"LAKEHOUSE_PROFILE": "aws"})
    assert on_s3.glue_database_prefix == "lakehouse_"
    assert Settings.from_env({"LAKEHOUSE_PROFILE": "azure"}).glue_database_prefix is None
    assert Settings.from_env({}).glue_database_prefix is None
    moved = {"LAKEHOUSE_PROFILE": "multicloud", "LAKEHOUSE_WAREHOUSE_URL": "s3://bi/warehouse"}
    assert Settings.from_env(moved).glue_database_prefix == "lakehouse_"
    named = {"LAKEHOUSE_GLUE_DATABASE_PREFIX": "acme_"}
    assert Settings.from_env(named).glue_database_prefix == "acme_"
    with pytest.raises(SettingsError, match="lower-case letters, digits and '_' only"):
        Settings.from_env({"LAKEHOUSE_GLUE_DATABASE_PREFIX": "Acme-BI"})


def test_api_sources_are_read_from_the_environment_and_their_tokens_never_kept():
    env = {
        "GOOGLE_ANALYTICS_PROPERTY_ID": "123",
        "GOOGLE_ANALYTICS_TOKEN": "ga-secret",
        "SALESFORCE_INSTANCE_URL": "https://acme.my.salesforce.com",
        "SALESFORCE_API_VERSION": "v61.0",
        "LAKEHOUSE_PLATFORM_DB_URL": "postgresql://u:pg-secret@db/platform",
    }
    s = Settings.from_env(env)
    assert (s.ga_property_id, s.ga_token_set, s.ga_base_url) == ("123", True, None)
    assert (s.sf_instance_url, s.sf_api_version, s.sf_token_set) == (
        "https://acme.my.salesforce.com",
        "v61.0",
        False,
    )
    assert s.platform_db_url_set
    assert "ga-secret" not in repr(s)
    assert not Settings.from_env({}).platform_db_url_set
