"""Freshness checks: does a projection hold its sources' newest data?

A projection is *behind* when one of its upstream assets was materialised after the
projection's own newest materialisation, longer than a grace period ago: new data arrived and
nothing carried it through. No clock window, so a quiet night with no new data passes, and a
projection whose upstream is updated every few seconds passes as long as it keeps up.

Each watched asset gets a check ``fresh`` (a WARN, never blocking), also run with each run of
the asset. One sensor evaluates all of them from the instance's event log, launching no run:
it records a failing evaluation on every tick while an asset is behind and a passing one when
it catches up, so the UI shows a projection falling behind; executing the checks from the UI
computes the same verdicts.
"""

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

CHECK_NAME = "fresh"
GRACE_SECONDS = 300
"""How long an upstream update may wait before its projection counts as behind: a change's
chain of runs (lake -> state -> KPIs -> scores) takes well under a minute when healthy."""
SENSOR_INTERVAL_SECONDS = 60


@dataclass(frozen=True)
class Verdict:
    behind: bool
    lag_seconds: float
    """Age of the oldest upstream update the projection has not caught up with (0: none)."""
    waiting_on: str | None
    """That update's asset."""


def verdict(
    projection_at: float | None,
    upstream_at: Mapping[str, float | None],
    now: float,
    grace_seconds: float = GRACE_SECONDS,
) -> Verdict:
    """Compare materialisation times (unix seconds, ``None``: never materialised)."""
    waiting = {
        key: at
        for key, at in upstream_at.items()
        if at is not None and (projection_at is None or at > projection_at)
    }
    if not waiting:
        return Verdict(False, 0.0, None)
    key, oldest = min(waiting.items(), key=lambda item: item[1])
    lag = max(0.0, now - oldest)
    return Verdict(lag > grace_seconds, lag, key)


def _materialised_at(instance: dg.DagsterInstance, key: dg.AssetKey) -> float | None:
    event = instance.get_latest_materialization_event(key)
    return event.timestamp if event else None


def _evaluation(
    instance: dg.DagsterInstance, key: dg.AssetKey, upstream: Sequence[dg.AssetKey], now: float
) -> dg.AssetCheckEvaluation:
    result = verdict(
        _materialised_at(instance, key),
        {u.to_user_string(): _materialised_at(instance, u) for u in upstream},
        now,
    )
    return dg.AssetCheckEvaluation(
        asset_key=key,
        check_name=CHECK_NAME,
        passed=not result.behind,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"behind: an update of {result.waiting_on} has waited {result.lag_seconds:.0f} s"
            if result.behind
            else "holds its upstream's newest data (or is catching up within the grace period)"
        ),
        metadata={
            "lag_seconds": round(result.lag_seconds, 1),
            "waiting_on": result.waiting_on or "",
            "grace_seconds": GRACE_SECONDS,
        },
    )


def freshness_definitions(
    watched: Mapping[dg.AssetKey, Iterable[dg.AssetKey]],
) -> dg.Definitions:
    """A ``fresh`` check on each watched asset against its upstream assets (``watched``: asset
    -> its parents; one without parents is skipped) and the ``freshness`` sensor."""
    upstream = {key: sorted(parents) for key, parents in watched.items() if parents}
    if not upstream:
        return dg.Definitions()
    specs = [
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=key,
            description=(
                "Holds its upstream's newest data: fails (WARN) when "
                f"{', '.join(p.to_user_string() for p in parents)} was updated more than "
                f"{GRACE_SECONDS} s ago and this asset has not been materialised since."
            ),
        )
        for key, parents in upstream.items()
    ]

    @dg.multi_asset_check(specs=specs, name="freshness_checks", can_subset=True)
    def _checks(context: dg.AssetCheckExecutionContext) -> Iterable[dg.AssetCheckResult]:
        now = time.time()
        selected = {k.asset_key for k in context.selected_asset_check_keys}
        for key, parents in upstream.items():
            if key not in selected:
                continue
            evaluation = _evaluation(context.instance, key, parents, now)
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=CHECK_NAME,
                passed=evaluation.passed,
                severity=evaluation.severity,
                description=evaluation.description,
                metadata=evaluation.metadata,
            )

    @dg.sensor(
        name="freshness",
        description="Evaluates the `fresh` checks from the event log (no run); records a "
        "failing evaluation while a projection is behind its upstream, a passing one when it "
        "catches up.",
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        reported: dict[str, bool] = json.loads(context.cursor) if context.cursor else {}
        now, changed = time.time(), []
        for key, parents in upstream.items():
            evaluation = _evaluation(context.instance, key, parents, now)
            # Behind: re-recorded every tick, as a run of the asset may have recorded a pass
            # meanwhile (its checks run with it); fresh: recorded when it changes.
            if not evaluation.passed or reported.get(key.to_user_string()) is not True:
                reported[key.to_user_string()] = evaluation.passed
                changed.append(evaluation)
        return dg.SensorResult(asset_events=changed, cursor=json.dumps(reported, sort_keys=True))

    return dg.Definitions(asset_checks=[_checks], sensors=[_sensor])
