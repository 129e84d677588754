"""`lakehouse tick`: every running sensor evaluated once, as the daemon would, runs executed.

The daemon's own code evaluates the sensors (the same cursors, ticks, run-key de-duplication
and recorded observations as under `dagster dev`, which carries on from where a tick left off
and vice versa) on a copy of the instance whose run launcher executes each requested run
synchronously; the backfills that automation requests (several partitions at once) are run by
the backfill daemon's code the same way. Rounds repeat until one requests nothing, so a change
in a source is carried through lake, warehouse and catalog by one command. Don't run it beside
a live daemon.

One tick at a time (a lock in ``$DAGSTER_HOME``). A tick killed mid-run (SIGKILL) leaves its
run STARTED, holding its pool slots; the next tick, holding the lock, knows no tick is running
any more, so it fails those runs and frees their slots before evaluating anything.
"""

import fcntl
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.events import DagsterEventType
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus
from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.storage.tags import BACKFILL_ID_TAG
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load import (
    location_origin_from_module_name,
    location_origins_from_yaml_paths,
)
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon import asset_daemon as _asset_daemon_mod
from dagster._daemon import sensor as _sensor_mod
from dagster._daemon.asset_daemon import AssetDaemon
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._serdes import ConfigurableClassData
from dagster._utils.error import SerializableErrorInfo

log = logging.getLogger("lakehouse_dev.tick")

LAUNCHED_BY_TAG = "lakehouse/launched_by"
UNFINISHED = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
BACKFILL_ACTIVE = [BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING, BulkActionStatus.FAILING]
MAX_BACKFILL_ITERATIONS = 200


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    job_name: str
    asset_keys: tuple[str, ...]
    instigator: str | None  # sensor name (incl. automation sensor), or "backfill <id>"
    run_key: str | None
    started: float
    error: str | None = None  # why it failed, one line

    def summary_line(self) -> str:
        assets = ", ".join(self.asset_keys) or self.job_name
        line = f"{self.status:<8} {self.run_id[:8]} by {self.instigator or '-'}: {assets}"
        return f"{line}\n         {self.error}" if self.error else line


class TickError(Exception):
    """A code location failed to load, a sensor or a backfill failed, or another tick is
    running; the message says which, one line per problem."""


def one_line(error: SerializableErrorInfo) -> str:
    """The innermost cause of a Dagster error, on one line (the traceback is in the log)."""
    while error.cause is not None or error.context is not None:
        error = error.cause or error.context
    lines = error.message.strip().splitlines() or [error.cls_name or "error"]
    return lines[0]


class TickRunLauncher(SyncInMemoryRunLauncher):
    """Executes a run inline, after tagging it as launched by a tick: a run so tagged that is
    unfinished while no tick is running was left behind by a killed tick."""

    def launch_run(self, context) -> None:
        self._instance.add_run_tags(context.dagster_run.run_id, {LAUNCHED_BY_TAG: "tick"})
        super().launch_run(context)


@contextmanager
def exclusive(instance: DagsterInstance) -> Iterator[None]:
    """Hold ``$DAGSTER_HOME/tick.lock`` (released by the kernel however the process ends)."""
    path = Path(instance.root_directory) / "tick.lock"
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            raise TickError(f"another tick is running (pid {holder}); wait for it") from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        yield


def recover_orphans(instance: DagsterInstance) -> list[str]:
    """Fail the unfinished runs a killed tick left behind and free their pool slots; their
    run ids. Call only while holding :func:`exclusive`."""
    records = instance.get_run_records(
        filters=RunsFilter(statuses=UNFINISHED, tags={LAUNCHED_BY_TAG: "tick"})
    )
    for record in records:
        run = record.dagster_run
        instance.report_run_failed(
            run,
            "the tick executing this run ended without finishing it (killed); failed by the "
            "next tick, which frees its pool slots and carries on from the stores' state",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [r.dagster_run.run_id for r in records]


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
            run_launcher_data=ConfigurableClassData(__name__, TickRunLauncher.__name__, "{}\n"),
        )
    )


def _summaries(instance: DagsterInstance, run_ids: list[str]) -> list[RunSummary]:
    out = []
    for record in (instance.get_run_record_by_id(r) for r in run_ids):
        if record is None:  # e.g. a backfill id from an automation sensor
            continue
        run = record.dagster_run
        backfill = run.tags.get(BACKFILL_ID_TAG)
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
                run.tags.get("dagster/sensor_name") or (backfill and f"backfill {backfill}"),
                run.tags.get("dagster/run_key"),
                record.create_timestamp.timestamp(),
                None
                if run.status == DagsterRunStatus.SUCCESS
                else _run_error(instance, run.run_id),
            )
        )
    return out


def _run_error(instance: DagsterInstance, run_id: str) -> str | None:
    """The first step failure's innermost cause, or the run failure's message."""
    for event in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        error = event.dagster_event.step_failure_data.error
        if error is not None:
            return f"{event.dagster_event.step_key}: {one_line(error)}"
    for event in instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE):
        return (event.dagster_event.message or "").strip().splitlines()[0] or None
    return None


def _run_backfills(ctx: WorkspaceProcessContext, instance: DagsterInstance) -> list[str]:
    """Carry every active backfill to its end (each iteration submits the partitions whose
    parents are done; the runs execute inline); the ids of their runs."""
    seen: set[str] = set()
    for _ in range(MAX_BACKFILL_ITERATIONS):
        active = instance.get_backfills(filters=BulkActionsFilter(statuses=BACKFILL_ACTIVE))
        if not active:
            break
        seen.update(b.backfill_id for b in active)
        errors = [e for e in execute_backfill_iteration(ctx, log) if e is not None]
        if errors:
            raise TickError("\n".join(f"backfill: {one_line(e)}" for e in errors))
    else:
        raise TickError(f"backfill(s) still running after {MAX_BACKFILL_ITERATIONS} iterations")
    failed = [
        b
        for b in (instance.get_backfill(i) for i in seen)
        if b is not None and b.status != BulkActionStatus.COMPLETED_SUCCESS
    ]
    if failed:
        raise TickError(
            "\n".join(
                f"backfill {b.backfill_id} {b.status.value}"
                + (f": {one_line(b.error)}" if b.error else "")
                for b in failed
            )
        )
    run_ids: list[str] = []
    for backfill_id in sorted(seen):
        records = instance.get_run_records(filters=RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
        run_ids.extend(r.dagster_run.run_id for r in records)
    return run_ids


def tick(
    target: str,
    instance: DagsterInstance,
    *,
    max_rounds: int = 10,
    progress: Callable[[str], None] | None = None,
    skipped: dict[str, str] | None = None,
) -> list[RunSummary]:
    """Evaluate, run, repeat until quiet; every run executed, in order. ``progress`` hears one
    line per recovered run and per run executed, as they finish; ``skipped`` (if given)
    receives, per sensor, why its last evaluation requested nothing."""
    say = progress or (lambda line: None)
    warnings.filterwarnings("ignore", message="coroutine 'BaseEventLoop.shutdown_asyncgens'")
    results: list[RunSummary] = []
    with ExitStack() as stack:
        stack.enter_context(exclusive(instance))
        for run_id in recover_orphans(instance):
            say(f"FAILURE  {run_id[:8]} left unfinished by a killed tick: failed, slots freed")
        instance = stack.enter_context(_sync_instance(instance))
        asset_daemon = AssetDaemon(
            settings=instance.get_auto_materialize_settings(), pre_sensor_interval_seconds=30
        )
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
                raise TickError(f"{entry.origin.location_name}: {one_line(entry.load_error)}")
            for repo in entry.code_location.get_repositories().values():
                sensors.extend(repo.get_sensors())

        for _ in range(max_rounds):
            round_start = time.time()
            run_ids: list[str] = []
            # 1) AUTO_MATERIALIZE sensors (AutomationConditionSensorDefinition): AssetDaemon path.
            #    First, so that its evaluation precedes this round's runs (an automation sensor's
            #    very first evaluation never fires; updates are detected relative to it).
            #    Evaluated again once its runs are done, so that their own updates are seen
            #    apart from the projections the sensors update next (both in one evaluation
            #    window, eager()'s reset would win and those updates be lost). The backfills
            #    it requests (several partitions at once) are carried to their end each time.
            for _evaluation in range(2):
                asset_daemon._run_iteration_impl(
                    ctx, threadpool_executor=None, amp_tick_futures={}, debug_crash_flags={}
                )
                run_ids.extend(_run_backfills(ctx, instance))
            # 2) regular sensors (+ user-code AUTOMATION sensors): SensorDaemon code path
            for _err in execute_sensor_iteration(ctx, log, None, None):
                pass  # errors are also recorded on the tick (FAILURE), inspected below
            failures = []
            for s in sensors:
                for t in instance.get_ticks(
                    s.get_remote_origin_id(), s.selector_id, after=round_start
                ):
                    run_ids.extend(t.run_ids)
                    if skipped is not None and t.status == TickStatus.SKIPPED and t.skip_reason:
                        skipped[s.name] = t.skip_reason
                    if t.status == TickStatus.FAILURE:
                        failures.append(f"{s.name}: {one_line(t.error) if t.error else '?'}")
            log.info(f"round: {len(run_ids)} run(s) in {time.time() - round_start:.2f}s")
            done = sorted(
                _summaries(instance, list(dict.fromkeys(run_ids))), key=lambda r: r.started
            )
            for summary in done:
                say(summary.summary_line())
            results.extend(done)
            if failures:
                raise TickError("\n".join(failures))
            if not run_ids:
                break
        else:
            raise TickError(f"still requesting runs after {max_rounds} rounds")
    return results
