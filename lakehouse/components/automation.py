"""Automation conditions that don't lose a dependency's update to a race.

``AutomationCondition.eager()`` remembers "a dependency was updated" only until the target is
handled, and sees the target's own request one evaluation late. A dependency updated between
the evaluation that requested the target and the next one (a KPI recomputed while the next
lake files are merged into its projection) ties with that reset, the reset wins, and the newer
data is never picked up. Here an update seen in an evaluation also counts on its own, so it
triggers the target once more (at worst one run more than needed, never one too few).

A sensor that sees new data can also carry it through (``carried_run``): its run builds the
changed assets and, in the same run, the dependants those conditions would request next, so a
change pays one run launch rather than one per hop. The automation sensor stays the general
mechanism; this only saves it the work.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dagster as dg

EVERY_DAEMON_PASS = 1
"""``minimum_interval_seconds`` of the sensors on a hot path: evaluated on every pass of
Dagster's sensor loop (every 5 s). An interval of 5 s would skip every other pass, ticking every
10 s: a tick's start is recorded just after its pass began, so at the next pass, 5 s later,
slightly less than 5 s have elapsed."""


def dependency_updated() -> dg.AutomationCondition:
    """A dependency was updated since the target was last handled, or in this evaluation."""
    updated = dg.AutomationCondition.any_deps_updated()
    return (updated.since_last_handled() | updated).with_label("a dependency updated")


def on_dependency_update() -> dg.AutomationCondition:
    """Like ``eager()``: run when a dependency is updated (or the target goes missing), once no
    dependency is missing or in progress, and without losing an update to that race."""
    return (
        dg.AutomationCondition.in_latest_time_window()
        & (dg.AutomationCondition.newly_missing().since_last_handled() | dependency_updated())
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("on dependency update")


def on_first_load_or_dependency_update() -> dg.AutomationCondition:
    """``on_dependency_update()``, and once when the asset first appears: missing on the
    condition's first evaluation (a newly added team asset), it is materialised then rather
    than waiting for the next upstream change, as ``eager()`` would."""
    first_load = (
        dg.AutomationCondition.initial_evaluation()
        & dg.AutomationCondition.missing()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("missing when first loaded")
    return (on_dependency_update() | first_load).with_label("on first load or dependency update")


REACTING = {"eager", "on dependency update", "on first load or dependency update"}
"""Labels of the conditions that request their asset as soon as a dependency is updated."""

_WAITS_FOR_MISSING = ~dg.AutomationCondition.any_deps_missing()


def carried_through(graph, roots: Iterable[dg.AssetKey]) -> set[dg.AssetKey]:
    """``roots`` and every unpartitioned asset downstream of them (in the asset ``graph``) that
    a condition in ``REACTING`` would request once they are updated, followed hop by hop."""
    selected, frontier = set(roots), list(roots)
    while frontier:
        for child in graph.get(frontier.pop()).child_keys:
            node = graph.get(child)
            condition = node.automation_condition
            if (
                child not in selected
                and node.is_materializable
                and node.partitions_def is None
                and condition is not None
                and condition.get_label() in REACTING
            ):
                selected.add(child)
                frontier.append(child)
    return selected


@dataclass(frozen=True)
class CarriedThrough(dg.AssetSelection):
    """The selection of :func:`carried_through`: what one run carrying a change may build."""

    roots: Sequence[dg.AssetKey]

    def resolve_inner(self, asset_graph, allow_missing: bool) -> set[dg.AssetKey]:
        return carried_through(asset_graph, self.roots)

    def to_selection_str(self) -> str:
        return " or ".join(f'key:"{k.to_user_string()}"+' for k in self.roots)


def carried_run(
    context: dg.SensorEvaluationContext, changed: Sequence[dg.AssetKey], **request
) -> dg.RunRequest:
    """A run building ``changed`` and the dependants the automation sensor would run after
    them (``request``: the run key, tags): a change then pays one run launch, not one per hop.

    A dependant whose condition waits for missing dependencies is left out while one of its
    dependencies outside the run has never been materialised (the automation sensor takes it
    when it can run). The dependants' conditions see the update as handled
    (``any_deps_updated`` ignores a dependency updated by a run that also built the asset), so
    nothing is built twice. Checks on a schedule of their own (a reconciliation with the
    source) keep to it; the others run with their asset."""
    graph = context.repository_def.asset_graph
    carried = carried_through(graph, changed)
    dependants = carried - set(changed)
    outside = {
        parent
        for key in dependants
        for parent in graph.get(key).parent_keys
        if parent not in carried and graph.get(parent).is_materializable
    }
    existing = {
        record.asset_entry.asset_key
        for record in context.instance.get_asset_records(sorted(outside))
        if record.asset_entry.last_materialization_record is not None
    }
    selected = set(changed)
    for key in graph.toposorted_asset_keys:
        if key not in dependants:
            continue
        node = graph.get(key)
        parents = node.parent_keys
        reached = any(p in selected for p in parents)
        ready = all(
            p in selected or p in existing or not graph.get(p).is_materializable for p in parents
        )
        if reached and (ready or not _waits_for_missing(node.automation_condition)):
            selected.add(key)
    checks = [
        check
        for check in graph.asset_check_keys
        if check.asset_key in selected and graph.get(check).automation_condition is None
    ]
    return dg.RunRequest(
        asset_selection=sorted(selected), asset_check_keys=sorted(checks), **request
    )


def _waits_for_missing(condition: dg.AutomationCondition) -> bool:
    stack = [condition]
    while stack:
        node = stack.pop()
        if node == _WAITS_FOR_MISSING:
            return True
        stack.extend(node.children)
    return False
