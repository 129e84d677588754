"""Publishing events: validated as the lake writer will validate them, then sent in chunks."""

from __future__ import annotations

from collections.abc import Iterable

from lakehouse.sources.events.bus import Bus
from lakehouse.sources.events.schema import Event, Invalid, InvalidEvent, parse

CHUNK = 500


class Publisher:
    """Sends :class:`Event` s to a bus. An event that would be dead-lettered is refused here,
    with the reason, instead of reaching the lake's quarantine."""

    def __init__(self, bus: Bus, chunk: int = CHUNK):
        self.bus = bus
        self.chunk = chunk

    def publish(self, events: Iterable[Event]) -> int:
        sent, pending = 0, []
        for event in events:
            body = event.encode()
            checked = parse(body)
            if isinstance(checked, Invalid):
                raise InvalidEvent(checked)
            pending.append(body)
            if len(pending) >= self.chunk:
                sent += self.bus.publish(pending)
                pending = []
        if pending:
            sent += self.bus.publish(pending)
        return sent
