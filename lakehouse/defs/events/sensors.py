"""New event files in the lake -> the projections that count them (near-real-time)."""

from lakehouse.components.lake_sensor import lake_file_sensor
from lakehouse.defs.events.keys import projection_key
from lakehouse.sources.events.writer import type_prefix
from lakehouse.warehouse.events import APPLICATION_FUNNEL, FUNDED_VOLUME

# One sensor (one cursor) per projection: trade_funded files feed both.
events_funnel_files = lake_file_sensor(
    "events_funnel_files",
    "New application, decision and funding event files -> update the application funnel.",
    {type_prefix(t): projection_key(APPLICATION_FUNNEL.name) for t in APPLICATION_FUNNEL.sources},
    minimum_interval_seconds=5,
)
events_funded_volume_files = lake_file_sensor(
    "events_funded_volume_files",
    "New trade_funded event files -> update the funded volume.",
    {type_prefix(t): projection_key(FUNDED_VOLUME.name) for t in FUNDED_VOLUME.sources},
    minimum_interval_seconds=5,
)
