"""A dependency updated while its downstream's run is ending still triggers the downstream; a
change carried through in one run leaves the automation nothing to repeat."""

import dagster as dg
import pytest

from lakehouse.components.automation import (
    carried_run,
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


def _platform_like():
    """A lake batch and its current state (sensor-driven), then what automation builds."""

    @dg.asset
    def lake() -> None: ...

    @dg.asset(deps=[lake])
    def state() -> None: ...

    @dg.asset(deps=[state], automation_condition=on_dependency_update())
    def kpi() -> None: ...

    @dg.asset(deps=[state], automation_condition=dg.AutomationCondition.eager())
    def features() -> None: ...

    @dg.asset
    def model() -> None: ...  # trained by hand: never carried

    @dg.asset(deps=[features, model], automation_condition=dg.AutomationCondition.eager())
    def score() -> None: ...

    @dg.asset
    def other() -> None: ...  # never materialised

    @dg.asset(
        deps=[kpi, score, other],
        automation_condition=on_dependency_update().without(
            ~dg.AutomationCondition.any_deps_missing()
        ),
    )
    def catalog() -> None: ...

    @dg.asset(
        deps=[state],
        partitions_def=dg.DailyPartitionsDefinition("2026-01-01"),
        automation_condition=dg.AutomationCondition.eager(),
    )
    def daily() -> None: ...

    @dg.asset(deps=[state], automation_condition=dg.AutomationCondition.on_cron("0 3 * * *"))
    def nightly() -> None: ...

    @dg.asset_check(asset=state)
    def keys_unique() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    @dg.asset_check(asset=state, automation_condition=dg.AutomationCondition.on_cron("0 * * * *"))
    def matches_source() -> dg.AssetCheckResult:  # on its own schedule
        return dg.AssetCheckResult(passed=True)

    return [lake, state, kpi, features, model, score, other, catalog, daily, nightly], [
        keys_unique,
        matches_source,
    ]


def _request(defs, instance) -> dg.RunRequest:
    context = dg.build_sensor_context(instance=instance, definitions=defs)
    return carried_run(context, [dg.AssetKey("lake"), dg.AssetKey("state")], run_key="change")


def _carried(defs, instance) -> list[str]:
    return [k.to_user_string() for k in _request(defs, instance).asset_selection]


def test_a_change_is_carried_to_what_automation_would_build_next_in_one_run():
    assets, checks = _platform_like()
    defs = dg.Definitions(assets=assets, asset_checks=checks)
    instance = dg.DagsterInstance.ephemeral()
    # Not carried: a partitioned asset, one on a cron, one waiting for a missing model; the
    # catalog (which catalogues what exists) does not wait for `other`.
    assert _carried(defs, instance) == ["catalog", "features", "kpi", "lake", "state"]
    dg.materialize([a for a in assets if a.key.path[0] == "model"], instance=instance)
    assert _carried(defs, instance) == ["catalog", "features", "kpi", "lake", "score", "state"]
    # The check on a schedule of its own keeps to it.
    request = _request(defs, instance)
    assert [c.name for c in request.asset_check_keys] == ["keys_unique"]
    assert request.run_key == "change"


def test_after_a_carried_run_automation_requests_nothing_more():
    assets, checks = _platform_like()
    defs = dg.Definitions(assets=assets, asset_checks=checks)
    instance = dg.DagsterInstance.ephemeral()
    by_name = {a.key.path[0]: a for a in assets}
    dg.materialize([by_name["model"]], instance=instance)
    _, cursor = _requested(defs, instance, None)

    # The run a sensor requests: the job's assets, subset to the carried selection.
    request = _request(defs, instance)
    job = defs.resolve_implicit_global_asset_job_def()
    job.execute_in_process(instance=instance, asset_selection=request.asset_selection)
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    requested = {a.key.to_user_string() for a in assets if result.get_num_requested(a.key)}
    # Only the assets the run did not carry remain for the automation sensor.
    assert requested == {"daily"}
