"""A Google Analytics 4 Data API client: ``runReport`` paged by ``offset``/``limit``.

``POST {base}/v1beta/properties/{property}:runReport`` with a JSON body; the response has
``dimensionHeaders``, ``metricHeaders``, ``rows``, ``rowCount`` (absent when zero) and
``metadata`` (``timeZone``, ``currencyCode``). Pages are requested until ``offset`` reaches
``rowCount``. Errors come as ``{"error": {"code", "message", "status"}}`` and are translated:
401 ``UNAUTHENTICATED`` / 403 ``PERMISSION_DENIED`` -> :class:`CredentialError` naming the
variable to fix, 400 ``INVALID_ARGUMENT`` for an unknown field -> :class:`SchemaDrift`
naming the report and field. 429 ``RESOURCE_EXHAUSTED`` and 5xx are retried by
:func:`lakehouse.sources.http.send`.
"""

import re
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import requests

from lakehouse.settings import GA_PROPERTY_ENV, GA_TOKEN_ENV
from lakehouse.sources.google_analytics.schema import Report
from lakehouse.sources.http import (
    DEFAULT_POLICY,
    APIError,
    CredentialError,
    RetryPolicy,
    SchemaDrift,
    send,
)

API = "Google Analytics"
DEFAULT_BASE_URL = "https://analyticsdata.googleapis.com"
TOKEN_ENV, PROPERTY_ENV = GA_TOKEN_ENV, GA_PROPERTY_ENV
PAGE_SIZE = 10_000  # rows per page (the API allows up to 250,000)
_INVALID_FIELD = re.compile(r"Field (\S+?)\.? is not a valid (dimension|metric)")


class GoogleAnalyticsClient:
    def __init__(
        self,
        property_id: str,
        access_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        token_env: str = TOKEN_ENV,
    ) -> None:
        self.property_id = property_id.removeprefix("properties/")
        self.url = f"{base_url.rstrip('/')}/v1beta/properties/{self.property_id}:runReport"
        self.policy, self.sleep, self.token_env = policy, sleep, token_env
        self.session = session or requests.Session()
        self._headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}

    def run_report(self, body: dict[str, Any], report: str) -> dict[str, Any]:
        """One ``runReport`` call; ``report`` names it in errors."""
        response = send(
            self.session,
            "POST",
            self.url,
            api=API,
            policy=self.policy,
            sleep=self.sleep,
            headers=self._headers,
            json=body,
        )
        if response.status_code != 200:
            raise self._error(response, report)
        try:
            return response.json()
        except ValueError as exc:
            raise APIError(f"{API}: response is not JSON: {response.text[:200]!r}") from exc

    def pages(
        self, report: Report, start: date, end: date, page_size: int = PAGE_SIZE
    ) -> Iterator[pa.Table]:
        """The report's rows for ``start``..``end`` (inclusive), one page at a time."""
        offset = 0
        while True:
            body = self.run_report(report.request(start, end, page_size, offset), report.name)
            table = report.to_table(body, self.property_id)
            yield table
            offset += table.num_rows
            if table.num_rows == 0 or offset >= int(body.get("rowCount", 0)):
                return

    def latest_date(self, report: Report, start: date) -> tuple[date | None, str | None]:
        """The newest date with data since ``start`` (through today), and the property's
        time zone: one single-row request."""
        body = {
            "dateRanges": [{"startDate": start.isoformat(), "endDate": "today"}],
            "dimensions": [{"name": "date"}],
            "metrics": [{"name": report.metrics[0].api_name}],
            "orderBys": [{"dimension": {"dimensionName": "date"}, "desc": True}],
            "limit": 1,
        }
        response = self.run_report(body, report.name)
        zone = (response.get("metadata") or {}).get("timeZone")
        rows = response.get("rows") or []
        if not rows:
            return None, zone
        try:
            value = rows[0]["dimensionValues"][0]["value"]
            return datetime.strptime(value, "%Y%m%d").date(), zone
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise SchemaDrift(
                f"{API} report {report.name}: unexpected date row {rows[0]!r}. Nothing written"
            ) from exc

    def _error(self, response: requests.Response, report: str) -> APIError:
        status = response.status_code
        try:
            error = response.json().get("error", {})
        except (ValueError, AttributeError):
            error = {}
        code = error.get("status", "")
        message = " ".join(str(error.get("message") or response.text[:300]).split())
        detail = f"HTTP {status} {code}: {message}".strip()
        if status == 401:
            return CredentialError(
                f"{API} rejected the access token ({detail}); set a valid OAuth token in "
                f"{self.token_env} (tokens expire after an hour: refresh it)"
            )
        if status == 403:
            return CredentialError(
                f"{API}: the token in {self.token_env} may not read property "
                f"{self.property_id} ({detail}); grant its account Viewer on the property or "
                f"check {PROPERTY_ENV}"
            )
        match = _INVALID_FIELD.search(message)
        if status == 400 and match:
            field, kind = match.groups()
            return SchemaDrift(
                f"{API} report {report}: {kind} {field!r} is not valid any more (renamed or "
                f"removed?) ({detail}). Nothing was written; update "
                "lakehouse/sources/google_analytics/schema.py"
            )
        return APIError(f"{API} report {report}: {detail}")
