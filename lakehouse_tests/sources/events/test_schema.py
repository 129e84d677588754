"""The envelope and the payload schemas: every bad input is refused with its reason."""

import datetime as dt
import json
from decimal import Decimal

import pyarrow as pa
import pytest

from lakehouse.sources.events.schema import (
    EVENT_TYPES,
    Event,
    Invalid,
    InvalidEvent,
    derived_event_id,
    lake_schema,
    make_event,
    parse,
    to_table,
)

AT = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
FUNDED = {
    "trade_id": 7,
    "invoice_id": 11,
    "advance_amount": "850.00",
    "fee_rate": "0.0125",
    "currency": "GBP",
}


def envelope(**changes) -> dict:
    doc = {
        "event_id": "e-1",
        "type": "trade_funded",
        "version": 1,
        "occurred_at": "2026-03-01T09:30:00Z",
        "payload": dict(FUNDED),
    }
    doc.update(changes)
    return doc


def body(doc) -> bytes:
    return json.dumps(doc).encode()


def test_a_valid_event_is_typed():
    event = parse(body(envelope()))
    assert isinstance(event, Event)
    assert (event.event_id, event.type, event.version, event.occurred_at) == (
        "e-1",
        "trade_funded",
        1,
        AT,
    )
    assert event.values == {
        "trade_id": 7,
        "invoice_id": 11,
        "advance_amount": Decimal("850.00"),
        "fee_rate": Decimal("0.0125"),
        "currency": "GBP",
    }


def test_offsets_are_normalised_to_utc_and_extra_payload_fields_are_kept():
    doc = envelope(occurred_at="2026-03-01T10:30:00+01:00")
    doc["payload"]["note"] = "kept in the raw payload"
    event = parse(body(doc))
    assert event.occurred_at == AT
    assert event.payload["note"] == "kept in the raw payload"


def payload_without(name):
    return {k: v for k, v in FUNDED.items() if k != name}


@pytest.mark.parametrize(
    ("raw", "kind", "reason"),
    [
        (b'{"event_id": "e-1", "type": ', "malformed_json", "malformed JSON"),
        (b"\xff\xfe not utf-8", "malformed_json", "not UTF-8"),
        (b"[1, 2]", "not_an_object", "must be a JSON object, got array"),
        (body({"type": "trade_funded"}), "missing_field", "event_id, version, occurred_at"),
        (body(envelope(payload=None)), "missing_field", "missing envelope field(s): payload"),
        (body(envelope(type="loan_granted")), "unknown_type", "unknown event type 'loan_granted'"),
        (body(envelope(version=9)), "unknown_version", "unknown version 9 of event type"),
        (body(envelope(version=True)), "bad_field", "version must be a positive integer"),
        (body(envelope(event_id="")), "bad_field", "event_id must be a non-empty string"),
        (body(envelope(event_id=5)), "bad_field", "event_id must be a non-empty string"),
        (body(envelope(occurred_at="yesterday")), "bad_field", "not an ISO 8601 timestamp"),
        (body(envelope(occurred_at="2026-03-01T09:30:00")), "bad_field", "has no time zone"),
        (body(envelope(payload=[1])), "bad_field", "payload must be a JSON object"),
        (
            body(envelope(payload=payload_without("invoice_id"))),
            "missing_field",
            "payload of trade_funded v1: missing field(s): invoice_id",
        ),
        (
            body(envelope(payload={**FUNDED, "invoice_id": "11"})),
            "bad_field",
            "field 'invoice_id' must be an integer, got string",
        ),
        (
            body(envelope(payload={**FUNDED, "advance_amount": 850.0})),
            "bad_field",
            "field 'advance_amount' must be a decimal string",
        ),
        (
            body(envelope(payload={**FUNDED, "advance_amount": "850.001"})),
            "bad_field",
            "more than 2 decimal places",
        ),
        (
            body(envelope(payload={**FUNDED, "advance_amount": "-1.00"})),
            "bad_field",
            "must not be negative",
        ),
        (
            body(envelope(payload={**FUNDED, "currency": "USD"})),
            "bad_field",
            "must be one of GBP, EUR",
        ),
        (  # valid JSON, invalid Unicode: a lone surrogate escape in a payload string
            b'{"event_id":"e-1","type":"trade_funded","version":1,'
            b'"occurred_at":"2026-03-01T09:30:00Z","payload":{"note":"x\\ud800y"}}',
            "malformed_json",
            "lone surrogate (\\ud800)",
        ),
        (  # ... or in a key
            b'{"event_id":"e-1","\\udfff":1}',
            "malformed_json",
            "lone surrogate (\\udfff)",
        ),
        (  # 9999-12-31 23:30 at UTC-5 is in year 10000 in UTC
            body(envelope(occurred_at="9999-12-31T23:30:00-05:00")),
            "bad_field",
            "out of range once converted to UTC: '9999-12-31T23:30:00-05:00'",
        ),
        (
            body(envelope(occurred_at="0001-01-01T00:30:00+01:00")),
            "bad_field",
            "out of range once converted to UTC",
        ),
    ],
)
def test_bad_input_has_a_reason(raw, kind, reason):
    invalid = parse(raw)
    assert isinstance(invalid, Invalid)
    assert invalid.kind == kind
    assert reason in invalid.reason


def test_versions_each_have_their_schema():
    v1 = {"application_id": 1, "seller_id": 2, "requested_amount": "100.00"}
    assert isinstance(parse(body(envelope(type="application_submitted", payload=v1))), Event)
    v2 = parse(body(envelope(type="application_submitted", version=2, payload=v1)))
    assert isinstance(v2, Invalid) and "missing field(s): currency, invoice_count" in v2.reason
    full = {**v1, "currency": "EUR", "invoice_count": 2}
    assert isinstance(
        parse(body(envelope(type="application_submitted", version=2, payload=full))), Event
    )


def test_make_event_validates_and_round_trips():
    event = make_event(
        "trade_funded", {**FUNDED, "advance_amount": Decimal("12.5")}, occurred_at=AT
    )
    assert event.version == EVENT_TYPES["trade_funded"].latest
    assert parse(event.encode()) == event
    assert event.payload["advance_amount"] == "12.5"
    with pytest.raises(InvalidEvent, match="missing field"):
        make_event("trade_funded", payload_without("trade_id"))


def test_derived_ids_are_deterministic():
    assert derived_event_id(7, "trade_funded", 1) == derived_event_id(7, "trade_funded", 1)
    assert derived_event_id(7, "trade_funded", 1) != derived_event_id(7, "trade_funded", 2)


def test_lake_table_has_every_versions_columns():
    v1 = make_event(
        "application_submitted",
        {"application_id": 1, "seller_id": 2, "requested_amount": "100.00"},
        version=1,
        occurred_at=AT,
    )
    v2 = make_event(
        "application_submitted",
        {
            "application_id": 3,
            "seller_id": 2,
            "requested_amount": "5.10",
            "currency": "GBP",
            "invoice_count": 1,
        },
        occurred_at=AT,
    )
    table = to_table("application_submitted", [v1, v2], AT)
    assert table.schema == lake_schema("application_submitted")
    rows = table.to_pylist()
    assert [r["currency"] for r in rows] == [None, "GBP"]
    assert [r["requested_amount"] for r in rows] == [Decimal("100.00"), Decimal("5.10")]
    assert rows[0]["event_date"] == AT.date()
    assert table.schema.field("requested_amount").type == pa.decimal128(14, 2)
    assert json.loads(rows[1]["payload"])["invoice_count"] == 1
