"""Platform events: envelope and payload schemas, the bus (local, SQS, Azure Storage Queue),
the publisher, the exactly-once lake writer, events derived from the platform database, and
the warehouse projections of the events. Formats and semantics: docs/events.md."""

from lakehouse.sources.events.bus import Bus, BusError, BusUnavailable, Message
from lakehouse.sources.events.buses import bus_from_url
from lakehouse.sources.events.publisher import Publisher
from lakehouse.sources.events.schema import EVENT_TYPES, Event, Invalid, make_event, parse

__all__ = [
    "EVENT_TYPES",
    "Bus",
    "BusError",
    "BusUnavailable",
    "Event",
    "Invalid",
    "Message",
    "Publisher",
    "bus_from_url",
    "make_event",
    "parse",
]
