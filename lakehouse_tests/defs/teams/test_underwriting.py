"""Team underwriting through Dagster: lake -> projections -> features -> model -> scores,
written under teams/underwriting/ and catalogued; new data rescored without retraining."""

import dagster as dg
import pyarrow.compute as pc
import pytest

from lakehouse.catalog.duckdb_file import open_catalog
from lakehouse.defs.teams.underwriting.assets import FEATURES, MODEL, QUALITY_CHECK, SCORES
from lakehouse.storage.projections import read_current
from lakehouse.storage.store import Store
from lakehouse_dev.simulate.platform import simulate
from lakehouse_tests.conftest import load_definitions
from lakehouse_tests.defs.platform.helpers import db_rows, materialize

TABLES = ("applications", "invoices", "companies", "trades")
PLATFORM = [f"{layer}/platform/{t}" for layer in ("lake", "warehouse") for t in TABLES]
TEAM = [k.to_user_string() for k in (FEATURES, MODEL, SCORES)]


def _latest(instance, key):
    return instance.get_latest_materialization_event(key).asset_materialization.metadata


@pytest.mark.timeout(900)
def test_applications_are_scored_and_rescored_when_new_data_arrives(settings, instance):
    url = settings.platform_db_url
    simulate(url, days=200, seed=7)
    defs = load_definitions()
    materialize(defs, instance, *PLATFORM, *TEAM, "catalog/warehouse")

    # Written by the platform's IO manager under teams/underwriting/ in the warehouse store.
    warehouse = Store(settings.warehouse_url)
    assert {k.rsplit("/", 2)[0] for k in warehouse.keys("teams/underwriting")} == {
        f"teams/underwriting/{name}"
        for name in ("application_features", "risk_model", "application_scores")
    }
    scores = read_current(warehouse, "teams/underwriting/application_scores")
    applications = db_rows(url, "applications")
    assert sorted(scores.column("application_id").to_pylist()) == sorted(applications)
    assert pc.min(scores.column("score")).as_py() > 0 and pc.max(scores["score"]).as_py() < 1
    assert scores.column("reason_1").null_count < scores.num_rows / 10
    pending = {i for i, a in applications.items() if a["status"] == "submitted"}
    assert pending and pending <= set(scores.column("application_id").to_pylist())

    # The model: trained, evaluated, plotted, checked.
    model = _latest(instance, MODEL)
    assert model["status"].value == "trained"
    assert 0.55 < model["holdout_auc"].value < 1
    assert model["evaluation_plot"].value.startswith("![ROC and calibration on the holdout](data:")
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(MODEL, QUALITY_CHECK)]
    )[dg.AssetCheckKey(MODEL, QUALITY_CHECK)]
    assert check.status.value == "SUCCEEDED"

    # Catalogued as teams_underwriting.application_scores.
    with open_catalog(settings.catalog_url, [warehouse]) as con:
        (n,) = con.execute("SELECT count(*) FROM teams_underwriting.application_scores").fetchone()
    assert n == len(applications)

    # New activity reaches the projections; the automation then asks for new features and
    # scores (not waiting for a nightly batch), but keeps this week's model.
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    simulate(url, days=1, seed=7)
    materialize(defs, instance, *PLATFORM)
    requested = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert requested.get_num_requested(FEATURES) == 1
    assert requested.get_num_requested(SCORES) == 1
    assert requested.get_num_requested(MODEL) == 0

    materialize(defs, instance, *TEAM[:1], TEAM[2])
    rescored = read_current(warehouse, "teams/underwriting/application_scores")
    assert rescored.num_rows == len(db_rows(url, "applications")) > len(applications)
