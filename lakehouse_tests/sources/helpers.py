"""Hand-made API data for the marketing tests, in each API's wire format."""

import datetime as dt
from typing import Any

import pyarrow as pa

from lakehouse.sources.salesforce.schema import OBJECTS, format_datetime
from lakehouse_dev.simulate.salesforce import salesforce_id

T0 = dt.datetime(2026, 3, 1, 9, 0, 0)


class Sleeps(list):
    """An injected ``sleep``: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def record(sobject: str, n: int, modstamp: dt.datetime, **fields: Any) -> dict[str, Any]:
    """A Salesforce record of ``sobject`` with every expected field, as the REST API sends it."""
    values: dict[str, Any] = {}
    for f in OBJECTS[sobject.lower()].fields:
        if f.api_name == "Id":
            value: Any = salesforce_id(sobject, n)
        elif pa.types.is_timestamp(f.type):
            value = format_datetime(modstamp)
        elif pa.types.is_boolean(f.type):
            value = False
        elif pa.types.is_date(f.type):
            value = modstamp.date().isoformat()
        elif pa.types.is_decimal(f.type):
            value = 1000.0 * n
        else:
            value = f"{f.api_name} {n}"
        values[f.api_name] = value
    values.update(fields)
    return values


def leads(n: int, start: dt.datetime = T0, step: dt.timedelta = dt.timedelta(minutes=7)):
    """``n`` leads changed one after another from ``start``."""
    return [record("Lead", i, start + i * step) for i in range(n)]


def fact(day: dt.date, source: str, medium: str, page: str, sessions: int, **metrics) -> dict:
    """A GA4 daily fact at the fake's finest grain (every dimension, every metric)."""
    return {
        "date": f"{day:%Y%m%d}",
        "sessionSource": source,
        "sessionMedium": medium,
        "sessionCampaignName": "(organic)" if medium == "organic" else "spring",
        "landingPage": page,
        "sessions": sessions,
        "totalUsers": metrics.get("totalUsers", sessions - 1),
        "newUsers": metrics.get("newUsers", sessions // 2),
        "engagedSessions": metrics.get("engagedSessions", sessions // 3),
        "keyEvents": metrics.get("keyEvents", 1),
    }
