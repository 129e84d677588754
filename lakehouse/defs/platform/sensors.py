"""New platform batches in the lake -> the current-state projections that merge them."""

from lakehouse.components.lake_sensor import lake_file_sensor
from lakehouse.defs.platform.keys import lake_prefix, state_key
from lakehouse.sources.platform.schema import TABLES

platform_lake_files = lake_file_sensor(
    "platform_lake_files",
    "New platform batches in the lake -> merge them into the warehouse projections.",
    {lake_prefix(table): state_key(table) for table in TABLES},
)
