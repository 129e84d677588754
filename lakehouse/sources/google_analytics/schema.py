"""The Google Analytics 4 reports extracted: their dimensions, metrics and lake schemas.

A report is a ``runReport`` request (``date`` plus other dimensions, some metrics) and the
lake table it lands in: ``property_id``, one column per dimension, one per metric. The
response's ``dimensionHeaders``/``metricHeaders`` must name exactly the requested fields, in
order, with the expected metric types; any difference (a metric renamed, as ``conversions``
became ``keyEvents`` in 2024, or retyped) is :class:`~lakehouse.sources.http.SchemaDrift`
naming the report and field, and nothing is written.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from lakehouse.sources.http import SchemaDrift

# Metric types (Data API ``MetricType``) each lake type accepts.
_ACCEPTED_TYPES = {
    pa.int64(): {"TYPE_INTEGER"},
    pa.float64(): {"TYPE_INTEGER", "TYPE_FLOAT"},
}


@dataclass(frozen=True)
class Field:
    api_name: str
    column: str
    type: pa.DataType


@dataclass(frozen=True)
class Report:
    name: str  # lake prefix and asset key part: "traffic_daily"
    dimensions: tuple[Field, ...]
    metrics: tuple[Field, ...]
    description: str

    def __post_init__(self) -> None:
        assert self.dimensions[0].api_name == "date", "reports are daily: 'date' comes first"

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field("property_id", pa.string(), nullable=False)]
            + [pa.field(f.column, f.type, nullable=False) for f in self.dimensions]
            + [pa.field(f.column, f.type, nullable=False) for f in self.metrics]
        )

    @property
    def grain(self) -> list[str]:
        """The columns identifying a row: the property and every dimension."""
        return ["property_id", *(f.column for f in self.dimensions)]

    def request(self, start: date, end: date, limit: int, offset: int = 0) -> dict[str, Any]:
        """The ``runReport`` body for one page. Ordered by every dimension, so offset paging
        is stable."""
        return {
            "dateRanges": [{"startDate": start.isoformat(), "endDate": end.isoformat()}],
            "dimensions": [{"name": f.api_name} for f in self.dimensions],
            "metrics": [{"name": f.api_name} for f in self.metrics],
            "orderBys": [{"dimension": {"dimensionName": f.api_name}} for f in self.dimensions],
            "limit": limit,
            "offset": offset,
            "keepEmptyRows": False,
        }

    def to_table(self, body: dict[str, Any], property_id: str) -> pa.Table:
        """One ``runReport`` response -> an Arrow table of the lake schema."""
        self._check_headers(body)
        columns: dict[str, list] = {name: [] for name in self.arrow_schema.names}
        n_dims, n_mets = len(self.dimensions), len(self.metrics)
        for row in body.get("rows", []):
            dims, mets = row.get("dimensionValues", []), row.get("metricValues", [])
            if len(dims) != n_dims or len(mets) != n_mets:
                raise SchemaDrift(
                    f"Google Analytics report {self.name}: a row has {len(dims)} dimension and "
                    f"{len(mets)} metric values, expected {n_dims} and {n_mets}. Nothing written"
                )
            columns["property_id"].append(property_id)
            for f, cell in zip(self.dimensions + self.metrics, dims + mets, strict=True):
                columns[f.column].append(self._value(f, cell.get("value")))
        return pa.table(columns, schema=self.arrow_schema)

    def _check_headers(self, body: dict[str, Any]) -> None:
        if "dimensionHeaders" not in body and "metricHeaders" not in body and not body.get("rows"):
            return  # an empty report may come without headers
        got_dims = [h.get("name") for h in body.get("dimensionHeaders", [])]
        got_mets = [h.get("name") for h in body.get("metricHeaders", [])]
        for kind, expected, got in (
            ("dimension", [f.api_name for f in self.dimensions], got_dims),
            ("metric", [f.api_name for f in self.metrics], got_mets),
        ):
            if got != expected:
                missing = [n for n in expected if n not in got]
                unexpected = [n for n in got if n not in expected]
                raise SchemaDrift(
                    f"Google Analytics report {self.name}: {kind} headers changed: expected "
                    f"{', '.join(missing) or '(same names)'} missing, unexpected "
                    f"{', '.join(map(str, unexpected)) or '(none)'} (renamed?). Nothing was "
                    "written; update lakehouse/sources/google_analytics/schema.py"
                )
        for f, header in zip(self.metrics, body.get("metricHeaders", []), strict=True):
            kind = header.get("type")
            if kind not in _ACCEPTED_TYPES[f.type]:
                raise SchemaDrift(
                    f"Google Analytics report {self.name}: metric {f.api_name} is now {kind}, "
                    f"expected {' or '.join(sorted(_ACCEPTED_TYPES[f.type]))}. Nothing written"
                )

    def _value(self, f: Field, value: Any) -> Any:
        try:
            if f.type == pa.date32():
                return datetime.strptime(value, "%Y%m%d").date()
            if f.type == pa.int64():
                return int(value)
            if f.type == pa.float64():
                return float(value)
            if not isinstance(value, str):
                raise TypeError("not a string")
            return value
        except (TypeError, ValueError) as exc:
            raise SchemaDrift(
                f"Google Analytics report {self.name}: {f.api_name} value {value!r} is not "
                f"{f.type}. Nothing was written"
            ) from exc


def _dim(api_name: str, column: str) -> Field:
    return Field(api_name, column, pa.date32() if api_name == "date" else pa.string())


DATE = _dim("date", "date")
SOURCE = _dim("sessionSource", "session_source")
MEDIUM = _dim("sessionMedium", "session_medium")
SESSIONS = Field("sessions", "sessions", pa.int64())
USERS = Field("totalUsers", "total_users", pa.int64())
ENGAGED = Field("engagedSessions", "engaged_sessions", pa.int64())
# Key events (``generate_lead`` here) were called conversions until 2024 (metric ``conversions``).
KEY_EVENTS = Field("keyEvents", "key_events", pa.float64())

TRAFFIC_DAILY = Report(
    "traffic_daily",
    (DATE, SOURCE, MEDIUM, _dim("sessionCampaignName", "session_campaign_name")),
    (SESSIONS, USERS, Field("newUsers", "new_users", pa.int64()), ENGAGED, KEY_EVENTS),
    "Website sessions, users and key events (leads) per day by source, medium and campaign.",
)
LANDING_PAGES_DAILY = Report(
    "landing_pages_daily",
    (DATE, _dim("landingPage", "landing_page"), SOURCE, MEDIUM),
    (SESSIONS, USERS, ENGAGED, KEY_EVENTS),
    "Website sessions, users and key events (leads) per day by landing page, source and medium.",
)

REPORTS: dict[str, Report] = {r.name: r for r in (TRAFFIC_DAILY, LANDING_PAGES_DAILY)}
