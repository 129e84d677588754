"""Freshness checks: a projection is behind only when its upstream moved and it did not follow."""

import types

import dagster as dg
import pytest

from lakehouse.components import freshness
from lakehouse.components.freshness import GRACE_SECONDS, Verdict, freshness_definitions, verdict

NIGHT = 10 * 3600


# -- the verdict, on hand-made timelines (unix seconds) ----------------------------------------


def test_a_quiet_night_is_not_behind():
    # Last source update at 18:00, projected at 18:00:40; nothing since, checked at 04:00.
    assert verdict(64_840.0, {"lake/platform/applications": 64_800.0}, 64_840.0 + NIGHT) == (
        Verdict(False, 0.0, None)
    )


def test_an_update_waiting_past_the_grace_period_is_behind():
    # The projection last ran at 09:00; the lake got a new batch at 09:05, now it is 09:15.
    result = verdict(32_400.0, {"lake/platform/invoices": 32_700.0}, 33_300.0)
    assert result == Verdict(True, 600.0, "lake/platform/invoices")


def test_an_update_being_carried_through_is_not_behind_yet():
    result = verdict(32_400.0, {"lake/platform/invoices": 32_700.0}, 32_745.0)
    assert result == Verdict(False, 45.0, "lake/platform/invoices")


def test_the_oldest_waiting_update_is_reported():
    result = verdict(
        1_000.0,
        {
            "warehouse/platform/invoices": 900.0,  # already projected
            "warehouse/platform/companies": 1_500.0,
            "warehouse/platform/applications": 1_200.0,  # waiting longest
        },
        1_200.0 + GRACE_SECONDS + 1,
    )
    assert result.behind and result.waiting_on == "warehouse/platform/applications"
    assert result.lag_seconds == GRACE_SECONDS + 1


def test_never_materialised():
    # A projection never built while its source has data: behind once past the grace period.
    assert verdict(None, {"lake/x": 0.0}, GRACE_SECONDS + 60.0).behind
    # A source that never produced anything: nothing to fall behind.
    assert verdict(None, {"lake/x": None}, 1e9) == Verdict(False, 0.0, None)


# -- the sensor, on a real instance ------------------------------------------------------------

LAKE, STATE = (
    dg.AssetKey(["lake", "crm", "accounts"]),
    dg.AssetKey(["warehouse", "crm", "accounts"]),
)


@dg.asset(key=LAKE)
def lake_accounts() -> None: ...


@dg.asset(key=STATE, deps=[LAKE])
def state_accounts() -> None: ...


@pytest.fixture
def defs() -> dg.Definitions:
    graph = dg.Definitions(assets=[lake_accounts, state_accounts]).resolve_asset_graph()
    # LAKE has no parent: not watched
    return freshness_definitions({k: graph.get(k).parent_keys for k in (STATE, LAKE)})


def _tick(defs, instance, cursor, at: float | None = None, monkeypatch=None):
    if at is not None:
        monkeypatch.setattr(freshness, "time", types.SimpleNamespace(time=lambda: at))
    (sensor,) = defs.sensors
    result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    return [(e.asset_key, e.passed, e.metadata["waiting_on"].value) for e in result.asset_events], (
        result.cursor
    )


def test_the_sensor_reports_falling_behind_and_catching_up(defs, monkeypatch):
    instance = dg.DagsterInstance.ephemeral()
    (checks,) = defs.asset_checks
    assert {k.asset_key for k in checks.check_keys} == {STATE}

    instance.report_runless_asset_event(dg.AssetMaterialization(LAKE))
    landed = instance.get_latest_materialization_event(LAKE).timestamp

    # Just landed: within the grace period, reported once as passing.
    events, cursor = _tick(defs, instance, None, landed + 5, monkeypatch)
    assert events == [(STATE, True, "lake/crm/accounts")]
    assert _tick(defs, instance, cursor, landed + 60, monkeypatch)[0] == []  # no change, no event

    # Nobody projected it for longer than the grace period: behind (a WARN).
    events, cursor = _tick(defs, instance, cursor, landed + GRACE_SECONDS + 30, monkeypatch)
    assert events == [(STATE, False, "lake/crm/accounts")]
    # ... and again on every tick while it stays behind (a run may have recorded a pass).
    events, cursor = _tick(defs, instance, cursor, landed + GRACE_SECONDS + 90, monkeypatch)
    assert events == [(STATE, False, "lake/crm/accounts")]

    # The projection runs: fresh again, however late it is.
    instance.report_runless_asset_event(dg.AssetMaterialization(STATE))
    events, cursor = _tick(defs, instance, cursor, landed + 2 * NIGHT, monkeypatch)
    assert events == [(STATE, True, "")]


def test_the_projections_that_matter_carry_the_check(settings):
    from lakehouse_tests.conftest import load_definitions

    graph = load_definitions().resolve_asset_graph()
    watched = {k.asset_key.to_user_string() for k in graph.asset_check_keys if k.name == "fresh"}
    assert {
        "warehouse/platform/applications",
        "warehouse/origination/applications_daily",
        "warehouse/finance/debtor_exposure",
        "warehouse/teams/underwriting/application_scores",
    } <= watched
