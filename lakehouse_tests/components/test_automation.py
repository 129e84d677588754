"""A dependency updated while its downstream's run is ending still triggers the downstream."""

import dagster as dg
import pytest

from lakehouse.components.automation import (
    on_dependency_update,
    on_first_load_or_dependency_update,
)


def _graph(condition: dg.AutomationCondition):
    @dg.asset
    def projection() -> None: ...

    @dg.asset(deps=[projection], automation_condition=condition)
    def kpi() -> None: ...

    return projection, kpi


def _requested(defs, instance, cursor):
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    return result.total_requested, result.cursor


@pytest.mark.parametrize(
    ("condition", "requested_after_the_race"),
    [(on_dependency_update(), 1), (dg.AutomationCondition.eager(), 0)],
    ids=["on_dependency_update", "eager (loses it)"],
)
def test_an_update_racing_the_kpis_own_run_is_not_lost(condition, requested_after_the_race):
    projection, kpi = _graph(condition)
    defs = dg.Definitions(assets=[projection, kpi])
    instance = dg.DagsterInstance.ephemeral()
    _, cursor = _requested(defs, instance, None)  # first evaluation: nothing has happened

    dg.materialize([projection], instance=instance)
    requested, cursor = _requested(defs, instance, cursor)
    assert requested == 1  # the projection changed: recompute the KPI

    # Between two evaluations the KPI's run ends, then newer data lands in the projection.
    dg.materialize([kpi], instance=instance)
    dg.materialize([projection], instance=instance)
    requested, cursor = _requested(defs, instance, cursor)
    assert requested == requested_after_the_race

    if requested:  # that run done, nothing new: quiet (no loop)
        dg.materialize([kpi], instance=instance)
        assert _requested(defs, instance, cursor)[0] == 0


@pytest.mark.parametrize(
    ("condition", "requested_on_first_load"),
    [(on_first_load_or_dependency_update(), 1), (dg.AutomationCondition.eager(), 0)],
    ids=["on_first_load_or_dependency_update", "eager (waits for an upstream change)"],
)
def test_a_new_asset_over_existing_data_is_materialised_once(condition, requested_on_first_load):
    @dg.asset
    def projection() -> None: ...

    @dg.asset(deps=[projection], automation_condition=on_dependency_update())
    def kpi() -> None: ...

    @dg.asset(deps=[projection], automation_condition=condition)
    def team_asset() -> None: ...

    instance = dg.DagsterInstance.ephemeral()
    before = dg.Definitions(assets=[projection, kpi])
    _, cursor = _requested(before, instance, None)
    dg.materialize([projection, kpi], instance=instance)
    _, cursor = _requested(before, instance, cursor)  # the platform, running for a while

    after = dg.Definitions(assets=[projection, kpi, team_asset])  # a team adds its module
    requested, cursor = _requested(after, instance, cursor)
    assert requested == requested_on_first_load
    if requested:
        dg.materialize([team_asset], instance=instance)
    assert _requested(after, instance, cursor)[0] == 0  # once, not on every evaluation
