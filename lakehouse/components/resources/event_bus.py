"""The event bus as a Dagster resource."""

import dagster as dg
from pydantic import Field

from lakehouse.sources.events.bus import Bus
from lakehouse.sources.events.buses import bus_from_url


class EventBus(dg.ConfigurableResource):
    """The event bus, by URL: ``local://<dir>``, ``sqs://<queue>`` or ``azqueue://<queue>``.

    Not checked at start-up (a sensor on a profile whose queue is not provisioned skips with
    the reason instead of failing); the lake writer checks it before draining.
    """

    url: str = Field(description="LAKEHOUSE_BUS_URL: local://<dir>, sqs://<queue>, azqueue://<q>")

    @property
    def bus(self) -> Bus:
        """A new client (use it as a context manager to release its connections)."""
        return bus_from_url(self.url)
