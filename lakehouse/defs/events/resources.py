"""The event bus resource, for ``LAKEHOUSE_BUS_URL`` (default per profile, see settings)."""

import dagster as dg

from lakehouse.components.resources.event_bus import EventBus
from lakehouse.settings import Settings


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"event_bus": EventBus(url=Settings.from_env().bus_url)})
