"""The one factory of incremental warehouse assets: previous result + the new lake files.

Each run reads the asset's previous result, lists every lake input after its cursor, reads
those batches (one that is unreadable or breaks the schema is quarantined with its reason, the
rest kept), hands them to the asset's pure ``merge`` and stores the result with the moved
cursors in its own Parquet metadata (``lake_cursors``: input name -> last lake key merged).
Data and cursors are written together, so each lake file is merged exactly once and a failed
run is caught up by the next; the run then fails naming any quarantined file.
"""

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa

from lakehouse.components.resources.stores import ObjectStore, asset_key_to_store_key
from lakehouse.storage.parquet import cursor_of, with_cursors
from lakehouse.storage.projections import current_key, read_current
from lakehouse.storage.quarantine import quarantine
from lakehouse.storage.store import Store
from lakehouse.warehouse.current_state import BadBatch, read_batch

CURSORS = "lake_cursors"
_LEGACY_CURSOR = "lake_cursor"  # one-input results written before the cursors were named


@dataclass(frozen=True)
class LakeInput:
    """A lake prefix an incremental asset reads, and the schema its batches must have (None:
    each batch carries its own, e.g. a source table whose columns evolve)."""

    prefix: str
    schema: pa.Schema | None


Batches = Mapping[str, Mapping[str, pa.Table]]
"""Input name -> {lake key: batch}, in key order: what a run has not merged yet."""

Merge = Callable[[pa.Table | None, Batches], pa.Table]
"""(previous result, or None on the first run or a full refresh; new batches) -> new result."""


class IncrementalConfig(dg.Config):
    full_refresh: bool = False
    """Rebuild from the whole lake history instead of the previous result plus new files."""


def lake_cursors(result: pa.Table | None, inputs: Mapping[str, LakeInput]) -> dict[str, str]:
    """Input name -> the last lake key merged into ``result``."""
    stored = cursor_of(result, CURSORS)
    if stored is not None:
        return json.loads(stored)
    legacy = cursor_of(result, _LEGACY_CURSOR)
    return {next(iter(inputs)): legacy} if legacy and len(inputs) == 1 else {}


def incremental_asset(
    key: dg.AssetKey,
    inputs: Mapping[str, LakeInput],
    merge: Merge,
    *,
    deps: Sequence[dg.AssetKey],
    description: str,
    group_name: str,
    owners: Sequence[str],
    metadata: Mapping[str, object] | None = None,
) -> dg.AssetsDefinition:
    """A warehouse asset kept as ``merge(previous result, new lake batches of inputs)``."""

    @dg.asset(
        key=key,
        deps=deps,
        description=description,
        group_name=group_name,
        owners=owners,
        metadata=metadata,
        kinds={"duckdb", "parquet"},
        tags={"layer": "warehouse"},
        pool=f"warehouse:{'/'.join(key.path[1:])}",  # runs of one asset never race
    )
    def _incremental(
        context: dg.AssetExecutionContext,
        config: IncrementalConfig,
        lake: ObjectStore,
        warehouse: ObjectStore,
    ) -> Iterator[dg.Output]:
        previous = _previous_result(context, config, warehouse.store)
        cursors, rejected = lake_cursors(previous, inputs), {}
        reference = previous.schema if previous is not None else None
        batches = {
            name: dict(
                _new_batches(context, lake.store, source, cursors.get(name), rejected, reference)
            )
            for name, source in inputs.items()
        }
        for name, new in batches.items():
            if new:
                cursors[name] = max(new)
        result = merge(previous, batches)
        merged = {k: t for new in batches.values() for k, t in new.items()}
        yield dg.Output(
            with_cursors(result, **{CURSORS: json.dumps(cursors, sort_keys=True)}),
            metadata={
                "rows": result.num_rows,
                "lake_files_merged": sorted(merged),
                "lake_rows_merged": sum(t.num_rows for t in merged.values()),
                "lake_cursors": cursors,
                "quarantined": rejected,
            },
        )
        if rejected:  # after the good files are stored
            raise dg.Failure(
                description="; ".join(f"{lake.store.uri(k)}: {r}" for k, r in rejected.items()),
                metadata={"quarantined": rejected},
                allow_retries=False,
            )

    return _incremental


def _previous_result(
    context: dg.AssetExecutionContext, config: IncrementalConfig, warehouse: Store
) -> pa.Table | None:
    """The asset's last stored result, or None (first run, or a full refresh)."""
    prefix = asset_key_to_store_key(context.asset_key)
    if config.full_refresh or current_key(warehouse, prefix) is None:
        return None
    return read_current(warehouse, prefix)


def _new_batches(
    context: dg.AssetExecutionContext,
    lake: Store,
    source: LakeInput,
    after: str | None,
    rejected: dict[str, str],
    previous: pa.Schema | None,
) -> Iterator[tuple[str, pa.Table]]:
    """(key, table) of each readable lake file of ``source`` after ``after``, in key order;
    an unreadable or schema-breaking one is quarantined and recorded in ``rejected``. Batches
    of an evolving schema are checked against ``previous`` (the last result's) and each other."""
    for key in lake.keys(source.prefix, after=after):
        try:
            batch = read_batch(lake, key, source.schema, previous)
            if source.schema is None:
                previous = batch.schema
            yield key, batch
        except BadBatch as exc:
            rejected[key] = str(exc)
            moved_to = quarantine(lake, key, str(exc), run_id=context.run.run_id)
            context.log.error(f"quarantined {lake.uri(key)} -> {moved_to}: {exc}")
