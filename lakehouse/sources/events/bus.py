"""The event bus: one interface over an embedded queue, AWS SQS and Azure Storage Queues.

Delivery is *at least once* on every backend: a received message is hidden for its
visibility timeout (a lease) and comes back if it is not acknowledged in time, so a consumer
that dies mid-batch loses nothing. Consumers make it exactly-once themselves (the lake writer
deduplicates by ``event_id``).

A bus is addressed by URL (``LAKEHOUSE_BUS_URL``):

- ``local://<dir>``: embedded, durable (SQLite in ``<dir>``), survives process kills;
- ``sqs://<queue>``: AWS SQS (``AWS_*`` variables; ``AWS_ENDPOINT_URL`` for moto);
- ``azqueue://<queue>``: Azure Storage Queue (``AZURE_STORAGE_CONNECTION_STRING``; Azurite).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SCHEMES = ("local", "sqs", "azqueue")


class BusError(RuntimeError):
    """A bus operation failed."""


class BusUnavailable(BusError):
    """The bus cannot be used: unknown URL, missing queue, no credentials, no endpoint."""


@dataclass(frozen=True)
class Message:
    """A received message. ``receipt`` acknowledges this delivery (it changes on redelivery);
    ``attempts`` counts deliveries, this one included."""

    id: str
    receipt: str
    body: bytes
    attempts: int = 1


class Bus(abc.ABC):
    """A queue of opaque message bodies (bytes)."""

    url: str
    max_message_bytes: int = 256 * 1024

    @abc.abstractmethod
    def publish(self, bodies: Iterable[bytes]) -> int:
        """Enqueue every body (durably, when this returns); returns how many."""

    @abc.abstractmethod
    def receive(
        self, max_messages: int = 10, visibility_timeout: float = 60, wait_seconds: float = 0
    ) -> list[Message]:
        """Up to ``max_messages`` visible messages, each hidden for ``visibility_timeout``
        seconds. Waits up to ``wait_seconds`` for the first one when none is visible."""

    @abc.abstractmethod
    def ack(self, messages: Sequence[Message]) -> int:
        """Delete the messages for good; returns how many were deleted. A receipt whose lease
        expired (the message was, or will be, delivered again) deletes nothing on the local
        and Azure backends; SQS leaves it undefined. Either is safe for a consumer that only
        acknowledges what it has made durable."""

    @abc.abstractmethod
    def pending(self) -> int:
        """Approximately how many messages are visible (waiting to be received)."""

    @abc.abstractmethod
    def in_flight(self) -> int:
        """Approximately how many messages are leased: received, not acknowledged, their
        visibility timeout not over (they come back when it is)."""

    @abc.abstractmethod
    def verify(self) -> None:
        """Raise :class:`BusUnavailable` (one line naming the queue and what to do) unless the
        bus can be used."""

    @abc.abstractmethod
    def create(self) -> None:
        """Create the queue if it does not exist (emulators, tests; production queues are
        provisioned with the infrastructure)."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _check_sizes(self, bodies: list[bytes]) -> None:
        for body in bodies:
            if len(body) > self.max_message_bytes:
                raise BusError(
                    f"{self.url}: a message of {len(body):,} bytes exceeds the backend's "
                    f"limit of {self.max_message_bytes:,}"
                )
