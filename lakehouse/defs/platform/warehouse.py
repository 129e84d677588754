"""``warehouse/platform/<table>``: the current state of each table, merged from lake history."""

from collections.abc import Iterator

import dagster as dg

from lakehouse.components.incremental import (
    IncrementalConfig,
    fail_if_rejected,
    new_batches,
    previous_result,
)
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.defs.platform.keys import GROUP, OWNERS, lake_key, lake_prefix, state_key
from lakehouse.sources.platform.extract import arrow_schema
from lakehouse.sources.platform.schema import TABLES
from lakehouse.warehouse.current_state import merge, state_cursor


def state_asset(table: str) -> dg.AssetsDefinition:
    schema = arrow_schema(table)

    @dg.asset(
        key=state_key(table),
        deps=[lake_key(table)],
        description=(
            f"Current state of platform table `{table}`: the latest version of every row, "
            "merged incrementally from the lake batches not yet seen."
        ),
        group_name=GROUP,
        owners=OWNERS,
        kinds={"duckdb", "parquet"},
        tags={"layer": "warehouse"},
        pool=f"warehouse:platform/{table}",  # merges of one table never race
    )
    def _current_state(
        context: dg.AssetExecutionContext,
        config: IncrementalConfig,
        lake: ObjectStore,
        warehouse: ObjectStore,
    ) -> Iterator[dg.Output]:
        previous, rejected = previous_result(context, config, warehouse), {}
        after = state_cursor(previous)
        batches = dict(
            new_batches(context, lake.store, lake_prefix(table), after, schema, rejected)
        )
        merged = merge(previous, batches, schema)
        yield dg.Output(
            merged.state,
            metadata={
                "lake_files_merged": sorted(batches),
                "lake_rows_merged": sum(t.num_rows for t in batches.values()),
                "lake_cursor": merged.cursor or "",
                "quarantined": rejected,
            },
        )
        fail_if_rejected(lake.store, rejected)

    return _current_state


state_assets = [state_asset(table) for table in TABLES]
