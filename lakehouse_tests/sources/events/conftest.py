"""Fixtures of the event-bus tests: a bus of every backend on real services."""

import uuid
from collections.abc import Iterator

import pytest

from lakehouse.sources.events.bus import Bus
from lakehouse.sources.events.buses import bus_from_url

BACKENDS = ("local", "sqs", "azqueue")


def new_bus(kind: str, request: pytest.FixtureRequest, tmp_path) -> Bus:
    """A fresh, empty queue: a directory (local), a queue on moto (sqs) or on Azurite."""
    if kind == "local":
        return bus_from_url(f"local://{tmp_path / f'bus-{uuid.uuid4().hex[:8]}'}")
    request.getfixturevalue("cloud_env")  # AWS_* and AZURE_STORAGE_CONNECTION_STRING set
    bus = bus_from_url(f"{kind}://lh-events-{uuid.uuid4().hex[:12]}")
    bus.create()
    return bus


@pytest.fixture(params=BACKENDS)
def bus(request, tmp_path) -> Iterator[Bus]:
    """A fresh queue on each backend in turn."""
    with new_bus(request.param, request, tmp_path) as bus:
        yield bus


def sample_events(n: int, start: int = 0) -> list:
    """``n`` valid events over every type, ids ``e-<start>``... (deterministic)."""
    import datetime as dt

    from lakehouse.sources.events.schema import make_event

    at = dt.datetime(2026, 2, 1, 8, tzinfo=dt.UTC)
    payloads = {
        "application_submitted": lambda i: {
            "application_id": i,
            "seller_id": 1,
            "requested_amount": "100.00",
            "currency": "GBP",
            "invoice_count": 1,
        },
        "invoice_uploaded": lambda i: {
            "invoice_id": i,
            "application_id": i,
            "seller_id": 1,
            "debtor_id": 2,
            "face_value": "100.00",
            "currency": "GBP",
            "issue_date": "2026-01-20",
            "due_date": "2026-03-20",
        },
        "underwriter_decided": lambda i: {
            "decision_id": i,
            "application_id": i,
            "underwriter": "A. Patel",
            "decision": "approved" if i % 3 else "declined",
            "reason": "within limits",
        },
        "trade_funded": lambda i: {
            "trade_id": i,
            "invoice_id": i,
            "advance_amount": "80.00",
            "fee_rate": "0.0100",
            "currency": "EUR",
        },
        "payment_received": lambda i: {
            "payment_id": i,
            "trade_id": i,
            "amount": "100.00",
            "currency": "EUR",
            "days_late": 0,
        },
    }
    types = list(payloads)
    return [
        make_event(
            types[i % len(types)],
            payloads[types[i % len(types)]](i),
            occurred_at=at + dt.timedelta(minutes=7 * i),
            event_id=f"e-{i}",
        )
        for i in range(start, start + n)
    ]
