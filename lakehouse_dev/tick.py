"""`lakehouse tick`: every running sensor evaluated once, as the daemon would, runs executed.

The daemon's own code evaluates the sensors (the same cursors, ticks, run-key de-duplication
and recorded observations as under `dagster dev`, which carries on from where a tick left off
and vice versa) on a copy of the instance whose run launcher executes each requested run
synchronously. Rounds repeat until one requests nothing, so a change in a source is carried
through lake, warehouse and catalog by one command. Don't run it beside a live daemon.
"""

import logging
import os
import time
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from unittest import mock

from dagster import DagsterInstance
from dagster._core.events import DagsterEventType
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load import (
    location_origin_from_module_name,
    location_origins_from_yaml_paths,
)
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon import asset_daemon as _asset_daemon_mod
from dagster._daemon import sensor as _sensor_mod
from dagster._daemon.asset_daemon import AssetDaemon
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._serdes import ConfigurableClassData

log = logging.getLogger("lakehouse_dev.tick")


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    job_name: str
    asset_keys: tuple[str, ...]
    instigator: str | None  # sensor name (incl. automation sensor)
    run_key: str | None
    started: float

    def summary_line(self) -> str:
        assets = ", ".join(self.asset_keys) or self.job_name
        return f"{self.status:<8} {self.run_id[:8]} by {self.instigator or '-'}: {assets}"


class TickError(Exception):
    """A code location failed to load or a sensor failed; the message says which."""


def _in_process_origins(target: str) -> list[InProcessCodeLocationOrigin]:
    """workspace.yaml path or module name -> in-process origins carrying the *same location
    name* `dagster dev` would use (that name is part of every sensor's selector_id)."""
    if target.endswith((".yaml", ".yml")):
        grpc_origins = location_origins_from_yaml_paths([target])
    else:
        grpc_origins = [location_origin_from_module_name(target, None, os.getcwd())]
    return [
        InProcessCodeLocationOrigin(o.loadable_target_origin, location_name=o.location_name)
        for o in grpc_origins
    ]


def _sync_instance(instance: DagsterInstance) -> DagsterInstance:
    """Same storages/settings as `instance`, but submit_run -> launch_run -> execute_run inline."""
    ref = instance.get_ref()  # requires a persistent (DAGSTER_HOME) instance
    return DagsterInstance.from_ref(
        ref._replace(
            run_coordinator_data=ConfigurableClassData(
                "dagster._core.run_coordinator", "DefaultRunCoordinator", "{}\n"
            ),
            run_launcher_data=ConfigurableClassData(
                "dagster._core.launcher.sync_in_memory_run_launcher",
                "SyncInMemoryRunLauncher",
                "{}\n",
            ),
        )
    )


def _summaries(instance: DagsterInstance, run_ids: list[str]) -> list[RunSummary]:
    out = []
    for record in (instance.get_run_record_by_id(r) for r in run_ids):
        if record is None:  # e.g. a backfill id from an automation sensor
            continue
        run = record.dagster_run
        out.append(
            RunSummary(
                run.run_id,
                run.status.value,
                run.job_name,
                tuple(
                    sorted(
                        e.dagster_event.asset_key.to_user_string()
                        for e in instance.all_logs(
                            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED
                        )
                    )
                ),
                run.tags.get("dagster/sensor_name"),
                run.tags.get("dagster/run_key"),
                record.create_timestamp.timestamp(),
            )
        )
    return out


def tick(
    target: str,
    instance: DagsterInstance,
    *,
    max_rounds: int = 10,
    skipped: dict[str, str] | None = None,
) -> list[RunSummary]:
    """Run sensors and automation until nothing more is requested; the runs, in order.

    ``skipped`` (if given) receives, per sensor, why its last evaluation requested nothing.
    """
    warnings.filterwarnings("ignore", message="coroutine 'BaseEventLoop.shutdown_asyncgens'")
    instance = _sync_instance(instance)
    asset_daemon = AssetDaemon(
        settings=instance.get_auto_materialize_settings(), pre_sensor_interval_seconds=30
    )
    results: list[RunSummary] = []
    with ExitStack() as stack:
        # A tick is an explicit request: ignore minimum_interval_seconds (state is left untouched,
        # the daemon keeps honouring the interval relative to our ticks).
        for mod in (_sensor_mod, _asset_daemon_mod):
            stack.enter_context(
                mock.patch.object(mod, "is_under_min_interval", lambda *a, **k: False)
            )
        ctx = stack.enter_context(
            WorkspaceProcessContext(
                instance, InProcessWorkspaceLoadTarget(_in_process_origins(target))
            )
        )
        request_ctx = ctx.create_request_context()
        sensors = []
        for entry in request_ctx.get_code_location_entries().values():
            if entry.load_error:
                raise TickError(f"{entry.origin.location_name}: {entry.load_error.to_string()}")
            for repo in entry.code_location.get_repositories().values():
                sensors.extend(repo.get_sensors())

        for _ in range(max_rounds):
            round_start = time.time()
            # 1) AUTO_MATERIALIZE sensors (AutomationConditionSensorDefinition): AssetDaemon path.
            #    First, so that its evaluation precedes this round's runs (an automation sensor's
            #    very first evaluation never fires; updates are detected relative to it).
            #    Evaluated again once its runs are done, so that their own updates are seen
            #    apart from the projections the sensors update next (both in one evaluation
            #    window, eager()'s reset would win and those updates be lost).
            for _evaluation in range(2):
                asset_daemon._run_iteration_impl(
                    ctx, threadpool_executor=None, amp_tick_futures={}, debug_crash_flags={}
                )
            # 2) regular sensors (+ user-code AUTOMATION sensors): SensorDaemon code path
            for _err in execute_sensor_iteration(ctx, log, None, None):
                pass  # errors are also recorded on the tick (FAILURE), inspected below
            run_ids, failures = [], []
            for s in sensors:
                for t in instance.get_ticks(
                    s.get_remote_origin_id(), s.selector_id, after=round_start
                ):
                    run_ids.extend(t.run_ids)
                    if skipped is not None and t.status == TickStatus.SKIPPED and t.skip_reason:
                        skipped[s.name] = t.skip_reason
                    if t.status == TickStatus.FAILURE:
                        failures.append(f"{s.name}: {t.error.to_string() if t.error else '?'}")
            log.info(f"round: {len(run_ids)} run(s) in {time.time() - round_start:.2f}s")
            results.extend(sorted(_summaries(instance, run_ids), key=lambda r: r.started))
            if failures:
                raise TickError("\n".join(failures))
            if not run_ids:
                break
        else:
            raise TickError(f"still requesting runs after {max_rounds} rounds")
    return results
