"""Policy: every lake asset is copied to the replica store as soon as new files land.

For each ``lake/<path>`` asset this adds ``replica/<path>`` (copies the lake files under
``<path>`` newer than the newest the replica has, with their manifests, verified by checksum),
``replica/quarantine`` (the lake's quarantine: bad batches, dead letters, rejected lines and
their reasons), one sensor that triggers them from new lake files, and the ``reconcile_lake``
job that finds and repairs drift across the whole lake.
"""

from collections.abc import Sequence

import dagster as dg

from lakehouse.components.lake_sensor import lake_file_sensor
from lakehouse.components.resources.stores import ObjectStore, asset_key_to_store_key
from lakehouse.replica.replicate import (
    ReplicationError,
    reconcile,
    replicate_missing,
    replicate_new,
)
from lakehouse.storage.quarantine import QUARANTINE_PREFIX

COPY_RETRIES = dg.RetryPolicy(
    max_retries=4, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def replica_key(lake_key: dg.AssetKey) -> dg.AssetKey:
    return dg.AssetKey(["replica", *lake_key.path[1:]])


def replica_asset(lake_spec: dg.AssetSpec) -> dg.AssetsDefinition:
    prefix, key = asset_key_to_store_key(lake_spec.key), replica_key(lake_spec.key)

    @dg.asset(
        key=key,
        deps=[lake_spec.key],
        description=f"Copy of `{lake_spec.key.to_user_string()}` on the replica store, "
        "verified by SHA-256 on both sides.",
        group_name=lake_spec.group_name,
        owners=list(lake_spec.owners),
        kinds={"parquet"},
        tags={"layer": "replica"},
        # The writer's pool (lake assets write ``<prefix>`` under ``lake:<prefix>``): a copy
        # never lists a prefix while its writer is still uploading several files at once.
        pool=f"lake:{prefix}",
        retry_policy=COPY_RETRIES,
    )
    def _replicate(
        context: dg.AssetExecutionContext, lake: ObjectStore, replica: ObjectStore
    ) -> dg.MaterializeResult:
        return _copied(context, lambda: replicate_new(lake.store, replica.store, prefix))

    return _replicate


QUARANTINE_REPLICA = dg.AssetKey(["replica", QUARANTINE_PREFIX])


@dg.asset(
    key=QUARANTINE_REPLICA,
    description="Copy of the lake's quarantine (`quarantine/`: bad batches, dead-lettered "
    "events, machine logs' rejected lines, each with its reason) on the replica store: "
    "the evidence survives a switchover. Copies every quarantined file the replica lacks.",
    group_name="quarantine",
    owners=["team:platform"],
    kinds={"parquet"},
    tags={"layer": "replica"},
    retry_policy=COPY_RETRIES,
)
def replicate_quarantine(
    context: dg.AssetExecutionContext, lake: ObjectStore, replica: ObjectStore
) -> dg.MaterializeResult:
    return _copied(context, lambda: replicate_missing(lake.store, replica.store, QUARANTINE_PREFIX))


def checksum_check(lake_spec: dg.AssetSpec) -> dg.AssetChecksDefinition:
    key = replica_key(lake_spec.key)

    @dg.asset_check(
        asset=key,
        name="checksums_match",
        description="The files of the latest copy hash the same on the lake and the replica.",
    )
    def _check(
        context: dg.AssetCheckExecutionContext, lake: ObjectStore, replica: ObjectStore
    ) -> dg.AssetCheckResult:
        event = context.instance.get_latest_materialization_event(key)
        copied = event.asset_materialization.metadata["sha256"].value if event else {}
        mismatched = [
            k
            for k, sha in copied.items()
            if not replica.store.exists(k)
            or replica.store.checksum(k) != sha
            or lake.store.checksum(k) != sha
        ]
        return dg.AssetCheckResult(
            passed=not mismatched, metadata={"verified": len(copied), "mismatched": mismatched}
        )

    return _check


class ReconcileConfig(dg.Config):
    repair: bool = True
    """Repair the drift found (copy missing and different files, restore lost history)."""


@dg.op(description="Compare lake and replica by checksum; repair the drift.")
def reconcile_stores(
    context: dg.OpExecutionContext, config: ReconcileConfig, lake: ObjectStore, replica: ObjectStore
) -> None:
    drift = reconcile(lake.store, replica.store, repair=config.repair)
    context.log.info(f"{lake.url} vs {replica.url}: {drift.summary()}")
    context.add_output_metadata(
        {
            "missing": drift.missing,
            "different": drift.different,
            "extra": drift.extra,
            "repaired": len(drift.repaired),
        }
    )
    if not drift.in_sync and not config.repair:
        raise dg.Failure(description=f"lake and replica differ: {drift.summary()}")


@dg.job(description="Find and repair drift between the lake and its replica (never deletes).")
def reconcile_lake() -> None:
    reconcile_stores()


def replication_definitions(lake_specs: Sequence[dg.AssetSpec]) -> dg.Definitions:
    targets = {asset_key_to_store_key(s.key): replica_key(s.key) for s in lake_specs}
    return dg.Definitions(
        assets=[*(replica_asset(spec) for spec in lake_specs), replicate_quarantine],
        asset_checks=[checksum_check(spec) for spec in lake_specs],
        sensors=[
            lake_file_sensor(
                "lake_replication",
                "New lake files (data, or quarantined) -> copy them to the replica store.",
                {**targets, QUARANTINE_PREFIX: QUARANTINE_REPLICA},
            )
        ],
        jobs=[reconcile_lake],
        schedules=[
            dg.ScheduleDefinition(
                job=reconcile_lake,
                cron_schedule="0 3 * * *",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
    )


def _copied(context: dg.AssetExecutionContext, copy) -> dg.MaterializeResult:
    """Run one replica copy; its files, bytes and checksums as the materialisation's metadata
    (a failed copy is logged and raised, for the retry policy)."""
    try:
        copied = copy()
    except ReplicationError as exc:
        context.log.error(f"{exc}; will retry with backoff")
        raise
    return dg.MaterializeResult(
        metadata={
            "files_copied": len(copied),
            "bytes_copied": sum(c.size for c in copied),
            "sha256": {c.key: c.sha256 for c in copied},
        }
    )
