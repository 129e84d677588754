"""Local stand-ins for the Salesforce REST API and the GA4 Data API, on loopback HTTP.

One server speaks both wire formats (paths, query parameters, JSON bodies, paging, error
bodies, status codes) from data held in memory, so the real clients run against it unchanged:
the tests start it per test, and ``lakehouse simulate marketing --serve`` serves the simulated
data for the demo. It is a fake, not an emulator: it implements what the clients use.

- Salesforce: ``GET /services/data/vNN.N/{query,queryAll}?q=<SOQL>`` for
  ``SELECT <fields> FROM <object> [WHERE <field> <op> <literal> [AND ...]] [ORDER BY ...]
  [LIMIT n]``, pages of ``Sforce-Query-Options: batchSize`` records (default 2000) linked by
  ``nextRecordsUrl``; errors ``[{"message", "errorCode"}]``: 401 ``INVALID_SESSION_ID``, 400
  ``INVALID_FIELD`` (with Salesforce's message), ``INVALID_TYPE``, ``MALFORMED_QUERY``,
  ``INVALID_QUERY_LOCATOR``. ``query`` omits deleted records, ``queryAll`` includes them.
- GA4: ``POST /v1beta/properties/{id}:runReport``: daily facts aggregated (summed) over the
  requested dimensions, ``dateRanges`` (ISO dates, ``today``, ``yesterday``, ``NdaysAgo``),
  ``orderBys``, ``limit``/``offset``, ``rowCount``, ``metadata``; errors
  ``{"error": {"code", "message", "status"}}``: 401 ``UNAUTHENTICATED``, 403
  ``PERMISSION_DENIED``, 400 ``INVALID_ARGUMENT`` (``Field x is not a valid metric``).

Faults are scripted (:meth:`FakeAPIs.script`: the next matching requests get a canned status,
body and headers, e.g. a 429 with ``Retry-After``) and every request is recorded
(:attr:`FakeAPIs.requests`) so tests assert what the clients asked for.
"""

import itertools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from lakehouse.sources.salesforce.schema import OBJECTS, parse_datetime

SIMULATED_TOKEN = "simulated-token"
SIMULATED_PROPERTY = "123456789"
GA_METRIC_TYPES = {
    "sessions": "TYPE_INTEGER",
    "totalUsers": "TYPE_INTEGER",
    "newUsers": "TYPE_INTEGER",
    "engagedSessions": "TYPE_INTEGER",
    "keyEvents": "TYPE_FLOAT",
}


# -- the data served ------------------------------------------------------------------------


@dataclass
class MarketingData:
    """What the fake APIs serve: Salesforce records (wire format, by sObject) and GA4 daily
    facts (``date`` as ``YYYYMMDD``, every dimension, every metric)."""

    salesforce: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ga_facts: list[dict[str, Any]] = field(default_factory=list)
    ga_property: str = SIMULATED_PROPERTY
    ga_time_zone: str = "Europe/London"

    FILE = "marketing_apis.json"

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path, tmp = directory / self.FILE, directory / f".{self.FILE}.tmp"
        tmp.write_text(json.dumps(self.__dict__, separators=(",", ":")))
        tmp.replace(path)  # atomic: a serving process never reads half a file
        return path

    @classmethod
    def load(cls, directory: Path) -> "MarketingData":
        return cls(**json.loads((directory / cls.FILE).read_text()))


# -- Salesforce -----------------------------------------------------------------------------


class _SOQLError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


_SOQL = re.compile(
    r"\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(r"\s*(\w+)\s*(=|!=|<=|>=|<|>)\s*(.+?)\s*")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})")


class FakeSalesforce:
    def __init__(self, records: dict[str, list[dict[str, Any]]], token: str) -> None:
        self.records, self.token = records, token
        # The org's schema ("describe"): the objects' fields, as the records carry them.
        self.describe = {o.name: [f.api_name for f in o.fields] for o in OBJECTS.values()}
        for sobject, rows in records.items():
            self.describe[sobject] = list(rows[0]) if rows else self.describe.get(sobject, [])
        self._cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self._ids = itertools.count(1)

    def rename_field(self, sobject: str, old: str, new: str) -> None:
        """Schema drift: the field ``old`` of ``sobject`` is now called ``new``."""
        fields = self.describe[sobject]
        fields[fields.index(old)] = new
        for record in self.records[sobject]:
            record[new] = record.pop(old)

    def query(self, soql: str, include_deleted: bool, version: str, endpoint: str, size: int):
        match = _SOQL.fullmatch(soql)
        if not match:
            raise _SOQLError("MALFORMED_QUERY", f"unexpected token in: {soql[:80]}")
        sobject = match["object"]
        if sobject not in self.describe:
            raise _SOQLError(
                "INVALID_TYPE",
                f"\n{soql[:60]}\n^\nERROR at Row:1:Column:1\nsObject type '{sobject}' is not "
                "supported. If you are attempting to use a custom object, be sure to append the "
                "'__c' after the entity name.",
            )
        known = self.describe[sobject]
        selected = [f.strip() for f in match["fields"].split(",")]
        conditions = [self._condition(c) for c in re.split(r"\s+AND\s+", match["where"] or "")]
        conditions = [c for c in conditions if c]
        order = [
            (parts[0], len(parts) > 1 and parts[1].upper() == "DESC")
            for parts in (o.split() for o in (match["order"] or "").split(",") if o.strip())
        ]
        for name in selected + [c[0] for c in conditions] + [o[0] for o in order]:
            if name not in known:
                raise _SOQLError(
                    "INVALID_FIELD",
                    f"\n{soql[:60]}\n^\nERROR at Row:1:Column:8\nNo such column '{name}' on "
                    f"entity '{sobject}'. If you are attempting to use a custom field, be sure to "
                    "append the '__c' after the custom field name. Please reference your WSDL or "
                    "the describe call for the appropriate names.",
                )
        rows = [
            r
            for r in self.records.get(sobject, [])
            if (include_deleted or not r.get("IsDeleted")) and all(_holds(r, c) for c in conditions)
        ]
        for name, desc in reversed(order):
            rows.sort(key=lambda r, n=name: (r[n] is not None, _sortable(r[n])), reverse=desc)
        if match["limit"]:
            rows = rows[: int(match["limit"])]
        result = [
            {
                "attributes": {
                    "type": sobject,
                    "url": f"/services/data/{version}/sobjects/{sobject}/{r['Id']}",
                },
                **{name: r[name] for name in selected},
            }
            for r in rows
        ]
        locator = f"01g{next(self._ids):015d}"
        self._cursors[locator] = (result, len(result))
        return self.page(locator, 0, version, endpoint, size)

    def page(self, locator: str, offset: int, version: str, endpoint: str, size: int):
        if locator not in self._cursors:
            raise _SOQLError("INVALID_QUERY_LOCATOR", "invalid query locator")
        result, total = self._cursors[locator]
        end = min(offset + size, total)
        body: dict[str, Any] = {
            "totalSize": total,
            "done": end >= total,
            "records": result[offset:end],
        }
        if end < total:
            body["nextRecordsUrl"] = f"/services/data/{version}/{endpoint}/{locator}-{end}"
        return body

    @staticmethod
    def _condition(text: str):
        if not text.strip():
            return None
        match = _CONDITION.fullmatch(text)
        if not match:
            raise _SOQLError("MALFORMED_QUERY", f"unexpected condition: {text}")
        name, op, literal = match.groups()
        return name, op, _literal(literal)


def _literal(text: str) -> Any:
    if _DATETIME.fullmatch(text):
        return parse_datetime(text.replace("Z", "+00:00"))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("\\'", "'")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() == "null":
        return None
    try:
        return float(text)
    except ValueError:
        raise _SOQLError("MALFORMED_QUERY", f"unexpected literal: {text}") from None


def _sortable(value: Any) -> Any:
    if isinstance(value, str) and _DATETIME.fullmatch(value.replace("+0000", "+00:00")):
        return parse_datetime(value).isoformat()
    return value


def _holds(record: dict[str, Any], condition: tuple[str, str, Any]) -> bool:
    name, op, literal = condition
    value = record[name]
    if isinstance(literal, datetime) and isinstance(value, str):
        value = parse_datetime(value)
    elif isinstance(literal, date) and isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if op in ("=", "!="):
        return (value == literal) == (op == "=")
    if value is None or literal is None:
        return False
    return {"<": value < literal, "<=": value <= literal, ">": value > literal}.get(
        op, value >= literal
    )


# -- Google Analytics -----------------------------------------------------------------------


class _GAError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class FakeGoogleAnalytics:
    def __init__(self, facts: list[dict[str, Any]], property_id: str, token: str, zone: str):
        self.facts, self.property_id, self.token, self.time_zone = facts, property_id, token, zone
        self.metric_types = dict(GA_METRIC_TYPES)
        self.dimensions = {"date", "sessionSource", "sessionMedium", "sessionCampaignName"}
        self.dimensions |= {"landingPage"}
        self.today: date | None = None  # None: the real date in the property's time zone

    def rename_metric(self, old: str, new: str) -> None:
        """Schema drift: metric ``old`` is now called ``new`` (as conversions -> keyEvents)."""
        self.metric_types[new] = self.metric_types.pop(old)
        for fact in self.facts:
            fact[new] = fact.pop(old)

    def run_report(self, property_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if property_id != self.property_id:
            raise _GAError(
                403,
                "PERMISSION_DENIED",
                "User does not have sufficient permissions for this property. To learn more "
                "about Property ID, see https://developers.google.com/analytics/devguides/"
                "reporting/data/v1/property-id.",
            )
        dims = [d["name"] for d in body.get("dimensions", [])]
        mets = [m["name"] for m in body.get("metrics", [])]
        for kind, names, valid in (
            ("dimension", dims, self.dimensions),
            ("metric", mets, self.metric_types),
        ):
            for name in names:
                if name not in valid:
                    raise _GAError(
                        400,
                        "INVALID_ARGUMENT",
                        f"Field {name} is not a valid {kind}. For a list of valid dimensions and "
                        "metrics, see https://developers.google.com/analytics/devguides/"
                        "reporting/data/v1/api-schema",
                    )
        if not mets:
            raise _GAError(400, "INVALID_ARGUMENT", "At least one metric is required.")
        ranges = [
            (self._date(r["startDate"]), self._date(r["endDate"]))
            for r in body.get("dateRanges", [])
        ]
        if not ranges:
            raise _GAError(400, "INVALID_ARGUMENT", "Date ranges must be specified.")
        groups: dict[tuple, list[float]] = {}
        for fact in self.facts:
            day = datetime.strptime(fact["date"], "%Y%m%d").date()
            if not any(start <= day <= end for start, end in ranges):
                continue
            totals = groups.setdefault(tuple(fact[d] for d in dims), [0.0] * len(mets))
            for i, m in enumerate(mets):
                totals[i] += fact[m]
        rows = sorted(groups.items())
        for order in reversed(body.get("orderBys", [])):
            if "dimension" in order:
                i = dims.index(order["dimension"]["dimensionName"])
                rows.sort(key=lambda r, i=i: r[0][i], reverse=bool(order.get("desc")))
            elif "metric" in order:
                i = mets.index(order["metric"]["metricName"])
                rows.sort(key=lambda r, i=i: r[1][i], reverse=bool(order.get("desc")))
        offset, limit = int(body.get("offset", 0)), int(body.get("limit", 10_000))
        response: dict[str, Any] = {
            "dimensionHeaders": [{"name": d} for d in dims],
            "metricHeaders": [{"name": m, "type": self.metric_types[m]} for m in mets],
        }
        if rows:
            response["rows"] = [
                {
                    "dimensionValues": [{"value": v} for v in key],
                    "metricValues": [{"value": _number(v)} for v in values],
                }
                for key, values in rows[offset : offset + limit]
            ]
            response["rowCount"] = len(rows)
        response["metadata"] = {"currencyCode": "GBP", "timeZone": self.time_zone}
        response["kind"] = "analyticsData#runReport"
        return response

    def _date(self, text: str) -> date:
        today = self.today or datetime.now(ZoneInfo(self.time_zone)).date()
        if text == "today":
            return today
        if text == "yesterday":
            return today - timedelta(days=1)
        if match := re.fullmatch(r"(\d+)daysAgo", text):
            return today - timedelta(days=int(match[1]))
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise _GAError(400, "INVALID_ARGUMENT", f"Invalid date: {text}") from None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# -- the server -----------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class _Scripted:
    path_contains: str
    status: int
    body: Any
    headers: dict[str, str]
    times: int


class FakeAPIs:
    """Both fake APIs on one loopback port; see the module docstring."""

    def __init__(
        self,
        data: MarketingData | None = None,
        *,
        token: str = SIMULATED_TOKEN,
        data_dir: Path | None = None,
    ) -> None:
        self.token = token
        self.data_dir = data_dir  # reloaded when its file changes (``simulate marketing``)
        self._mtime = 0.0
        self.requests: list[Recorded] = []
        self._scripted: list[_Scripted] = []
        self._lock = threading.RLock()
        self._load(data or (MarketingData.load(data_dir) if data_dir else MarketingData()))
        self._server: ThreadingHTTPServer | None = None

    def _load(self, data: MarketingData) -> None:
        self.salesforce = FakeSalesforce(data.salesforce, self.token)
        self.google_analytics = FakeGoogleAnalytics(
            data.ga_facts, data.ga_property, self.token, data.ga_time_zone
        )

    def _reload_if_changed(self) -> None:
        if self.data_dir is None:
            return
        path = self.data_dir / MarketingData.FILE
        mtime = path.stat().st_mtime if path.exists() else 0.0
        if mtime != self._mtime:
            self._mtime = mtime
            self._load(MarketingData.load(self.data_dir))

    # -- test controls --

    def script(
        self,
        path_contains: str,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests whose path contains ``path_contains`` get this answer."""
        with self._lock:
            self._scripted.append(_Scripted(path_contains, status, body, headers or {}, times))

    @property
    def soql(self) -> list[str]:
        """The SOQL of every Salesforce query received (first pages only)."""
        return [r.query["q"][0] for r in self.requests if "q" in r.query]

    @property
    def report_bodies(self) -> list[dict[str, Any]]:
        """The body of every ``runReport`` received."""
        return [r.body for r in self.requests if r.path.endswith(":runReport")]

    # -- serving --

    @property
    def url(self) -> str:
        assert self._server is not None, "not serving"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> "FakeAPIs":
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def env(self) -> dict[str, str]:
        """The environment pointing the marketing resources at this server."""
        return {
            "SALESFORCE_INSTANCE_URL": self.url,
            "SALESFORCE_ACCESS_TOKEN": self.token,
            "GOOGLE_ANALYTICS_BASE_URL": self.url,
            "GOOGLE_ANALYTICS_PROPERTY_ID": self.google_analytics.property_id,
            "GOOGLE_ANALYTICS_TOKEN": self.token,
        }

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes):
        """One request -> ``(status, headers, body)``."""
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            self.requests.append(Recorded(method, parts.path, query, headers, body))
            for scripted in self._scripted:
                if scripted.times > 0 and scripted.path_contains in parts.path:
                    scripted.times -= 1
                    return scripted.status, scripted.headers, scripted.body
            self._reload_if_changed()
            if parts.path.startswith("/services/data/"):
                return self._salesforce(method, parts.path, query, headers)
            if match := re.fullmatch(r"/v1beta/properties/([^/:]+):runReport", parts.path):
                return self._ga(method, match[1], headers, body)
        return 404, {}, {"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}}

    def _salesforce(self, method: str, path: str, query: dict, headers: dict[str, str]):
        if headers.get("authorization") != f"Bearer {self.token}":
            return (
                401,
                {},
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
            )
        options = headers.get("sforce-query-options", "")
        size = int(m[1]) if (m := re.search(r"batchSize=(\d+)", options)) else 2000
        size = min(size, 2000)  # Salesforce's minimum is 200; the fake pages smaller for tests
        match = re.fullmatch(r"/services/data/(v\d+\.\d)/(query|queryAll)(?:/([\w]+)-(\d+))?", path)
        if method != "GET" or not match:
            return (
                404,
                {},
                [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}],
            )
        version, endpoint, locator, offset = match.groups()
        try:
            if locator:
                return 200, {}, self.salesforce.page(locator, int(offset), version, endpoint, size)
            if "q" not in query:
                raise _SOQLError("MALFORMED_QUERY", "query parameter q is required")
            soql = query["q"][0]
            return (
                200,
                {},
                self.salesforce.query(soql, endpoint == "queryAll", version, endpoint, size),
            )
        except _SOQLError as exc:
            return 400, {}, [{"message": exc.message, "errorCode": exc.code}]

    def _ga(self, method: str, property_id: str, headers: dict[str, str], body: Any):
        try:
            if headers.get("authorization") != f"Bearer {self.token}":
                raise _GAError(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access "
                    "token, login cookie or other valid authentication credential.",
                )
            if method != "POST" or not isinstance(body, dict):
                raise _GAError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            return 200, {}, self.google_analytics.run_report(property_id, body)
        except _GAError as exc:
            error = {"code": exc.code, "message": exc.message, "status": exc.status}
            return exc.code, {}, {"error": error}


def _handler(fake: FakeAPIs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, body = fake.handle(self.command, self.path, headers, raw)
            data = body if isinstance(body, bytes) else b"" if body is None else (
                body.encode() if isinstance(body, str) else json.dumps(body).encode()
            )  # fmt: skip
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


@contextmanager
def serve(
    data: MarketingData | None = None, *, host: str = "127.0.0.1", port: int = 0, **kwargs
) -> Iterator[FakeAPIs]:
    """The fake APIs serving ``data`` on loopback for the duration of the block."""
    fake = FakeAPIs(data, **kwargs).start(host, port)
    try:
        yield fake
    finally:
        fake.stop()


# -- the simulated data ---------------------------------------------------------------------


@dataclass(frozen=True)
class Simulated:
    data: MarketingData
    source: str  # where the companies and dates came from
    first_day: date  # GA traffic covers first_day..last_day
    last_day: date
    leads_matching_platform: int  # leads whose keys match a platform company


def simulate_marketing(platform_db_url: str, seed: int = 7, standalone_days: int = 90) -> Simulated:
    """Salesforce records and GA traffic consistent with the platform database (its sellers,
    its simulated dates); without one, ``standalone_days`` up to today with no platform match.
    Raises ``SourceError`` if the database exists but cannot be read."""
    from lakehouse.sources.sql.db import MissingFile, display_name, engine
    from lakehouse.warehouse import company_matching as matching
    from lakehouse_dev.simulate.google_analytics import simulate_traffic
    from lakehouse_dev.simulate.salesforce import (
        PRE_LAUNCH_DAYS,
        read_platform,
        simulate_salesforce,
    )

    snapshot = None
    try:
        engine(platform_db_url).dispose()  # refuses a missing sqlite file: standalone
    except MissingFile:
        pass
    else:
        snapshot = read_platform(platform_db_url)
    if snapshot is None:
        clock = datetime.combine(datetime.now().date(), datetime.min.time())
        start, companies = clock.date() - timedelta(days=standalone_days), []
        source = "no platform database: standalone, no company matches"
    else:
        start, clock, companies = snapshot.start, snapshot.clock, snapshot.companies
        source = f"platform database {display_name(platform_db_url)}"
    sf = simulate_salesforce(companies, start, clock, seed)
    first, last = start - timedelta(days=PRE_LAUNCH_DAYS), clock.date() - timedelta(days=1)
    facts = simulate_traffic(first, last, sf.web_leads, seed)
    keys = {matching.registration_key(c.registration_number, c.country) for c in companies}
    keys |= {matching.company_key(c.name, c.country) for c in companies}
    matched = sum(
        1
        for lead in sf.records["Lead"]
        if {
            matching.registration_key(lead["Registration_Number__c"], lead["Country"]),
            matching.company_key(lead["Company"], lead["Country"]),
        }
        & (keys - {None})
    )
    return Simulated(MarketingData(sf.records, facts), source, first, last, matched)
