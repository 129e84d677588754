"""Automation conditions that don't lose a dependency's update to a race.

``AutomationCondition.eager()`` remembers "a dependency was updated" only until the target is
handled, and sees the target's own request one evaluation late. A dependency updated between
the evaluation that requested the target and the next one (a KPI recomputed while the next
lake files are merged into its projection) ties with that reset, the reset wins, and the newer
data is never picked up. Here an update seen in an evaluation also counts on its own, so it
triggers the target once more (at worst one run more than needed, never one too few).
"""

import dagster as dg


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
