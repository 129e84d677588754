"""The GA4 Data API client and extraction against a local server speaking its wire format:
offset paging, the incremental window, rate limits, transient errors, credentials, drift."""

import datetime as dt
from collections import defaultdict

import pytest

from lakehouse.sources.google_analytics.client import GoogleAnalyticsClient
from lakehouse.sources.google_analytics.extract import extract_report, lake_watermark
from lakehouse.sources.google_analytics.schema import TRAFFIC_DAILY
from lakehouse.sources.http import (
    APIError,
    CredentialError,
    RetriesExhausted,
    RetryPolicy,
    SchemaDrift,
)
from lakehouse.storage import Store
from lakehouse.storage.parquet import read_parquet
from lakehouse_dev.fake_apis import SIMULATED_PROPERTY, SIMULATED_TOKEN, MarketingData, serve
from lakehouse_tests.sources.helpers import Sleeps, fact

TODAY = dt.date(2026, 3, 15)
PREFIX = "google_analytics/traffic_daily"
CHANNELS = [
    ("google", "organic", "/"),
    ("google", "organic", "/pricing"),  # same traffic_daily row as the one above
    ("(direct)", "(none)", "/"),
    ("newsletter", "email", "/apply"),
]


def _facts(first: dt.date, last: dt.date) -> list[dict]:
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [
        fact(day, source, medium, page, sessions=10 * day.day + i)
        for day in days
        for i, (source, medium, page) in enumerate(CHANNELS)
    ]


def _expected(facts: list[dict], first: dt.date, last: dt.date) -> dict[tuple, dict]:
    """traffic_daily computed by hand: facts summed by (date, source, medium, campaign)."""
    rows: dict[tuple, dict] = defaultdict(lambda: defaultdict(float))
    for f in facts:
        day = dt.datetime.strptime(f["date"], "%Y%m%d").date()
        if first <= day <= last:
            key = (day, f["sessionSource"], f["sessionMedium"], f["sessionCampaignName"])
            for metric in ("sessions", "totalUsers", "newUsers", "engagedSessions", "keyEvents"):
                rows[key][metric] += f[metric]
    return {k: dict(v) for k, v in rows.items()}


def _as_expected(rows: list[dict]) -> dict[tuple, dict]:
    out = {}
    for r in rows:
        key = (r["date"], r["session_source"], r["session_medium"], r["session_campaign_name"])
        assert key not in out, f"duplicate row {key}"
        out[key] = {
            "sessions": r["sessions"],
            "totalUsers": r["total_users"],
            "newUsers": r["new_users"],
            "engagedSessions": r["engaged_sessions"],
            "keyEvents": r["key_events"],
        }
    return out


@pytest.fixture
def fake():
    data = MarketingData(ga_facts=_facts(TODAY - dt.timedelta(days=6), TODAY))
    with serve(data) as server:
        server.google_analytics.today = TODAY
        yield server


@pytest.fixture
def lake(tmp_path) -> Store:
    return Store(str(tmp_path / "lake"))


def _client(fake, sleeps=None, token=SIMULATED_TOKEN, property_id=SIMULATED_PROPERTY):
    return GoogleAnalyticsClient(
        property_id,
        token,
        base_url=fake.url,
        policy=RetryPolicy(max_attempts=3, backoff_base=1.0),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


def _extract(fake, lake, sleeps=None, today=TODAY, page_size=5):
    return extract_report(
        _client(fake, sleeps),
        TRAFFIC_DAILY,
        lake,
        PREFIX,
        today=today,
        backfill_days=30,
        page_size=page_size,
    )


def test_report_pages_by_offset_until_row_count(fake):
    first, last = TODAY - dt.timedelta(days=6), TODAY - dt.timedelta(days=1)
    pages = list(_client(fake).pages(TRAFFIC_DAILY, first, last, page_size=5))
    assert [p.num_rows for p in pages] == [5, 5, 5, 3]  # 6 days x 3 rows
    assert [b["offset"] for b in fake.report_bodies] == [0, 5, 10, 15]
    rows = [r for p in pages for r in p.to_pylist()]
    assert _as_expected(rows) == _expected(fake.google_analytics.facts, first, last)
    assert {r["property_id"] for r in rows} == {SIMULATED_PROPERTY}
    request = fake.requests[0]
    assert request.path == f"/v1beta/properties/{SIMULATED_PROPERTY}:runReport"
    assert request.method == "POST" and request.headers["authorization"].startswith("Bearer ")
    assert request.body["dimensions"] == [
        {"name": n} for n in ("date", "sessionSource", "sessionMedium", "sessionCampaignName")
    ]


def test_runs_pull_complete_days_and_re_pull_a_lookback_window(fake, lake):
    (first,) = _extract(fake, lake)
    probe, *pages = fake.report_bodies
    assert probe["dateRanges"] == [{"startDate": "2026-02-13", "endDate": "today"}]
    assert probe["limit"] == 1 and probe["orderBys"][0]["desc"] is True
    # Today is not complete: the pull stops yesterday.
    assert {str(p["dateRanges"]) for p in pages} == {
        str([{"startDate": "2026-02-13", "endDate": "2026-03-14"}])
    }
    assert (first.start, first.end) == (dt.date(2026, 2, 13), dt.date(2026, 3, 14))
    facts = fake.google_analytics.facts
    rows = read_parquet(lake, first.key).to_pylist()
    assert _as_expected(rows) == _expected(facts, dt.date(2026, 2, 13), dt.date(2026, 3, 14))
    assert lake_watermark(lake, PREFIX) == dt.date(2026, 3, 14)

    # A day later: GA revised 13 March, finished the 15th, and the 16th has begun.
    for f in facts:
        if f["date"] == "20260313":
            f["sessions"] += 100
    facts.extend(_facts(dt.date(2026, 3, 16), dt.date(2026, 3, 16)))
    fake.google_analytics.today = tomorrow = TODAY + dt.timedelta(days=1)
    seen = len(fake.requests)
    (second,) = _extract(fake, lake, today=tomorrow)
    probe, *pages = [r.body for r in fake.requests[seen:]]
    window = [{"startDate": "2026-03-12", "endDate": "2026-03-15"}]  # 3 days back + the new one
    assert probe["dateRanges"][0]["startDate"] == "2026-03-12"
    assert all(p["dateRanges"] == window for p in pages)
    rows = read_parquet(lake, second.key).to_pylist()
    assert _as_expected(rows) == _expected(facts, dt.date(2026, 3, 12), dt.date(2026, 3, 15))
    revised = {r["sessions"] for r in rows if r["date"] == dt.date(2026, 3, 13)}
    assert revised == {230 + 231, 232, 233}  # 13 March as revised (+100 per fact)
    assert lake_watermark(lake, PREFIX) == dt.date(2026, 3, 15)
    assert len(lake.keys(PREFIX)) == 2


def test_a_property_whose_data_stops_is_not_asked_for_empty_days(fake, lake):
    facts = fake.google_analytics.facts
    facts[:] = [f for f in facts if f["date"] <= "20260311"]
    (batch,) = _extract(fake, lake)
    assert batch.end == dt.date(2026, 3, 11)
    assert _extract(fake, lake) != []  # the lookback window is re-pulled (GA may revise it)
    assert fake.report_bodies[-1]["dateRanges"][0] == {
        "startDate": "2026-03-09",
        "endDate": "2026-03-11",
    }


def test_rate_limit_waits_as_long_as_retry_after_says(fake, lake):
    sleeps = Sleeps()
    error = {"error": {"code": 429, "message": "Exhausted", "status": "RESOURCE_EXHAUSTED"}}
    fake.script(":runReport", 429, error, headers={"Retry-After": "5"})
    fake.script(":runReport", 429, error)  # no Retry-After: exponential backoff
    _extract(fake, lake, sleeps)
    assert sleeps == [5.0, 2.0]


def test_transient_5xx_is_retried_then_gives_up_with_a_clear_error(fake, lake):
    sleeps = Sleeps()
    fake.script(":runReport", 503, {"error": {"code": 503, "status": "UNAVAILABLE"}}, times=2)
    assert _extract(fake, lake, sleeps)[0].rows == 18
    assert sleeps == [1.0, 2.0]

    sleeps = Sleeps()
    fake.script(":runReport", 500, {"error": {"code": 500, "status": "INTERNAL"}}, times=3)
    with pytest.raises(RetriesExhausted) as err:
        _extract(fake, lake, sleeps)
    assert "Google Analytics: POST" in str(err.value) and "failed 3 times" in str(err.value)
    assert "HTTP 500" in str(err.value) and sleeps == [1.0, 2.0]
    assert len(lake.keys(PREFIX)) == 1  # nothing more written


def test_credentials_errors_name_the_variable_to_fix(fake, lake):
    sleeps = Sleeps()
    with pytest.raises(CredentialError) as err:
        extract_report(_client(fake, sleeps, token="tok-0xBAD"), TRAFFIC_DAILY, lake, PREFIX)
    assert "GOOGLE_ANALYTICS_TOKEN" in str(err.value) and "UNAUTHENTICATED" in str(err.value)
    assert "tok-0xBAD" not in str(err.value) and sleeps == [] and len(fake.requests) == 1

    with pytest.raises(CredentialError) as err:
        extract_report(_client(fake, property_id="999"), TRAFFIC_DAILY, lake, PREFIX)
    assert "property 999" in str(err.value) and "GOOGLE_ANALYTICS_PROPERTY_ID" in str(err.value)
    assert lake.keys(PREFIX) == []


def test_a_renamed_metric_is_reported_and_nothing_is_written(fake, lake):
    fake.google_analytics.rename_metric("keyEvents", "conversions")
    with pytest.raises(SchemaDrift) as err:
        _extract(fake, lake)
    assert "report traffic_daily: metric 'keyEvents' is not valid" in str(err.value)
    assert lake.keys(PREFIX) == []


def test_changed_headers_or_types_are_reported_and_nothing_is_written(fake, lake):
    body = {
        "dimensionHeaders": [{"name": f.api_name} for f in TRAFFIC_DAILY.dimensions],
        "metricHeaders": [
            {
                "name": "conversions" if f.api_name == "keyEvents" else f.api_name,
                "type": "TYPE_INTEGER",
            }
            for f in TRAFFIC_DAILY.metrics
        ],
        "rows": [],
    }
    fake.script(":runReport", 200, body)
    with pytest.raises(SchemaDrift) as err:
        list(_client(fake).pages(TRAFFIC_DAILY, TODAY, TODAY))
    assert "keyEvents missing, unexpected conversions (renamed?)" in str(err.value)

    fake.google_analytics.metric_types["sessions"] = "TYPE_FLOAT"
    with pytest.raises(SchemaDrift, match="metric sessions is now TYPE_FLOAT"):
        _extract(fake, lake)
    assert lake.keys(PREFIX) == []


def test_rows_repeated_across_pages_fail_the_run_and_nothing_is_written(fake, lake):
    page = _client(fake).run_report(
        TRAFFIC_DAILY.request(TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=2), 2),
        "traffic_daily",
    )
    assert page["rowCount"] == 3
    fake.script(":runReport", 200, page, times=3)  # the probe, then the same page twice
    with pytest.raises(APIError, match="repeated across pages"):
        _extract(fake, lake, page_size=2)
    assert lake.keys(PREFIX) == []
