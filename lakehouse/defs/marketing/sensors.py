"""New marketing batches in the lake -> the current-state projections that merge them."""

from lakehouse.components.lake_sensor import lake_file_sensor
from lakehouse.defs.marketing.keys import SOURCES, lake_prefix, state_key

marketing_lake_files = lake_file_sensor(
    "marketing_lake_files",
    "New Google Analytics and Salesforce batches in the lake -> merge them into the "
    "warehouse projections.",
    {lake_prefix(api, name): state_key(api, name) for api, name in SOURCES},
)
