"""``azqueue://<queue>``: an Azure Storage Queue (Azurite's queue service in tests).

The connection string comes from ``AZURE_STORAGE_CONNECTION_STRING`` (never logged). Bodies
are sent base64-encoded (Azure Functions' convention, safe for any bytes); a received message
that is not valid base64 (another producer sending plain text) is passed on as its text, so
the consumer can dead-letter it instead of the queue jamming. Azure has no batch send or
delete: requests go out on a small thread pool.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

from lakehouse.settings import azure_connection_string
from lakehouse.sources.events.bus import Bus, BusError, BusUnavailable, Message

_PAGE = 32  # Azure's maximum per receive request
_THREADS = 8
_POLL = 0.2
_MAX_VISIBILITY = 7 * 24 * 3600
_IGNORED = object()


class AzureQueueBus(Bus):
    # 64 KiB per message, base64 adds a third
    max_message_bytes = 48 * 1024

    def __init__(self, queue: str, connection_string: str | None = None):
        self.queue = queue
        self.url = f"azqueue://{queue}"
        self._connection_string = connection_string
        self._pool_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @cached_property
    def client(self):
        from azure.storage.queue import QueueClient

        conn = self._connection_string or azure_connection_string()
        if not conn:
            raise BusUnavailable(
                f"event bus {self.url}: no credentials; set AZURE_STORAGE_CONNECTION_STRING"
            )
        try:
            return QueueClient.from_connection_string(conn, self.queue)
        except ValueError as exc:
            raise BusUnavailable(
                f"event bus {self.url}: AZURE_STORAGE_CONNECTION_STRING is not usable ({exc})"
            ) from None

    def _call(self, what: str, fn, *args, _ignore: tuple[str, ...] = (), **kwargs):
        """fn(*args, **kwargs) with Azure's errors as BusUnavailable / BusError; an error whose
        code is in ``_ignore`` returns ``_IGNORED``; ResourceExistsError passes through."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceExistsError,
            ServiceRequestError,
        )

        try:
            return fn(*args, **kwargs)
        except ResourceExistsError:
            raise
        except ClientAuthenticationError as exc:
            raise BusUnavailable(
                f"event bus {self.url}: access denied ({type(exc).__name__}); check "
                "AZURE_STORAGE_CONNECTION_STRING"
            ) from None
        except HttpResponseError as exc:
            code = getattr(exc, "error_code", None)  # a str enum (StorageErrorCode)
            code = getattr(code, "value", code) or ""
            if code in _ignore:
                return _IGNORED
            if code == "QueueNotFound" or "QueueNotFound" in str(exc):
                raise BusUnavailable(
                    f"event bus {self.url}: queue {self.queue!r} does not exist: create it or "
                    "set LAKEHOUSE_BUS_URL"
                ) from None
            raise BusError(f"event bus {self.url}: {what} failed: {exc.message}") from None
        except ServiceRequestError as exc:
            raise BusUnavailable(
                f"event bus {self.url}: cannot reach the queue service ({exc}); check the "
                "endpoint in AZURE_STORAGE_CONNECTION_STRING and the network"
            ) from None

    def _map(self, fn, items: list) -> list:
        if len(items) <= 1:
            return [fn(item) for item in items]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="azqueue")
            pool = self._pool
        return list(pool.map(fn, items))

    def publish(self, bodies: Iterable[bytes]) -> int:
        bodies = list(bodies)
        self._check_sizes(bodies)
        client = self.client

        def send(body: bytes) -> None:
            text = base64.b64encode(body).decode("ascii")
            self._call("send", client.send_message, text, time_to_live=-1)

        self._map(send, bodies)
        return len(bodies)

    def receive(
        self, max_messages: int = 10, visibility_timeout: float = 60, wait_seconds: float = 0
    ) -> list[Message]:
        deadline = time.monotonic() + wait_seconds
        timeout = min(_MAX_VISIBILITY, max(1, math.ceil(visibility_timeout)))
        while True:
            pages = self._call(
                "receive",
                self.client.receive_messages,
                max_messages=max_messages,
                messages_per_page=min(_PAGE, max_messages),
                visibility_timeout=timeout,
            )
            messages = self._call("receive", list, map(_message, pages))
            if messages or time.monotonic() >= deadline:
                return messages
            time.sleep(min(_POLL, max(0.0, deadline - time.monotonic())))

    def ack(self, messages: Sequence[Message]) -> int:
        client = self.client

        def delete(m: Message) -> int:
            # a stale pop receipt (the lease expired) or a message already deleted: nothing
            result = self._call(
                "delete",
                client.delete_message,
                m.id,
                m.receipt,
                _ignore=("PopReceiptMismatch", "MessageNotFound"),
            )
            return 0 if result is _IGNORED else 1

        return sum(self._map(delete, list(messages)))

    def pending(self) -> int:
        """Visible messages, counted by peeking (at most 32): Azure's own approximate count
        includes messages leased by consumers."""
        return len(self._call("peek", self.client.peek_messages, max_messages=_PAGE))

    def in_flight(self) -> int:
        """Azure's approximate count (visible and leased) less the visible ones peeked: exact
        while fewer than 32 are visible, a lower bound otherwise."""
        total = self._call("get properties", self.client.get_queue_properties)
        return max(0, (total.approximate_message_count or 0) - self.pending())

    def verify(self) -> None:
        self._call("get properties", self.client.get_queue_properties)

    def create(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            self._call("create", self.client.create_queue)

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        client = self.__dict__.pop("client", None)
        if client is not None:
            client.close()


def _message(m) -> Message:
    text = m.content or ""
    try:
        body = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        body = text.encode("utf-8", errors="surrogateescape")
    return Message(m.id, m.pop_receipt, body, int(m.dequeue_count or 1))
