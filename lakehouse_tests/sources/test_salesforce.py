"""The Salesforce client and extraction against a local server speaking the REST API's wire
format: paging, incremental queries, rate limits, transient errors, credentials, schema drift."""

import datetime as dt

import pytest

from lakehouse.sources.http import (
    CredentialError,
    RateLimited,
    RetriesExhausted,
    RetryPolicy,
    SchemaDrift,
)
from lakehouse.sources.salesforce.client import SalesforceClient
from lakehouse.sources.salesforce.extract import extract_object
from lakehouse.sources.salesforce.schema import LEAD, OPPORTUNITY, format_datetime
from lakehouse.storage import Store
from lakehouse.storage.parquet import read_parquet
from lakehouse_dev.fake_apis import SIMULATED_TOKEN, MarketingData, serve
from lakehouse_tests.sources.helpers import T0, Sleeps, leads, record

PREFIX = "salesforce/lead"


@pytest.fixture
def fake():
    data = MarketingData(salesforce={"Lead": leads(5), "Account": [], "Opportunity": []})
    with serve(data) as server:
        yield server


@pytest.fixture
def lake(tmp_path) -> Store:
    return Store(str(tmp_path / "lake"))


def _client(fake, sleeps=None, token=SIMULATED_TOKEN, attempts=3) -> SalesforceClient:
    return SalesforceClient(
        fake.url,
        token,
        batch_size=2,
        policy=RetryPolicy(max_attempts=attempts, backoff_base=1.0, backoff_max=60.0),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


def _lake_rows(lake: Store, keys: list[str]) -> list[dict]:
    return [row for key in keys for row in read_parquet(lake, key).to_pylist()]


def test_query_follows_next_records_url_until_done(fake):
    pages = list(_client(fake).query(LEAD.soql()))
    assert [len(p) for p in pages] == [2, 2, 1]
    ids = [r["Id"] for page in pages for r in page]
    assert ids == [r["Id"] for r in leads(5)]  # every record once, in SystemModstamp order
    paths = [r.path for r in fake.requests]
    assert paths[0] == "/services/data/v61.0/queryAll"
    assert all(p.startswith("/services/data/v61.0/queryAll/01g") for p in paths[1:])
    assert [r.headers["sforce-query-options"] for r in fake.requests] == ["batchSize=2"] * 3


def test_second_run_asks_only_for_what_is_new_and_writes_only_new_versions(fake, lake):
    first = extract_object(_client(fake), LEAD, lake, PREFIX)
    assert [b.rows for b in first] == [5]
    assert fake.soql[-1] == LEAD.soql()  # no watermark yet: everything
    (row,) = [r for r in _lake_rows(lake, [first[0].key]) if r["id"] == leads(5)[4]["Id"]]
    assert row["system_modstamp"] == T0 + 4 * dt.timedelta(minutes=7)  # typed, naive UTC
    assert row["company"] == "Company 4" and row["is_converted"] is False

    watermark = T0 + 4 * dt.timedelta(minutes=7)
    records = fake.salesforce.records["Lead"]
    same_second = watermark + dt.timedelta(milliseconds=500)  # committed after the last run
    records.append(record("Lead", 10, same_second))
    records.append(record("Lead", 11, watermark + dt.timedelta(hours=1)))
    records[1].update(  # a changed lead: a new version
        Status="Closed - Converted",
        SystemModstamp=format_datetime(watermark + dt.timedelta(hours=2)),
    )
    records[2].update(
        IsDeleted=True, SystemModstamp=format_datetime(watermark + dt.timedelta(hours=3))
    )

    second = extract_object(_client(fake), LEAD, lake, PREFIX)
    assert fake.soql[-1] == (
        f"SELECT {', '.join(f.api_name for f in LEAD.fields)} FROM Lead "
        "WHERE SystemModstamp >= 2026-03-01T09:28:00Z ORDER BY SystemModstamp ASC, Id ASC"
    )
    new = _lake_rows(lake, [b.key for b in second])
    assert [r["id"] for r in new] == [
        records[5]["Id"],
        records[6]["Id"],
        records[1]["Id"],
        records[2]["Id"],
    ]  # lead 4 (at the watermark) is not written again
    assert new[2]["status"] == "Closed - Converted" and new[3]["is_deleted"] is True
    assert second[-1].watermark == watermark + dt.timedelta(hours=3)

    assert extract_object(_client(fake), LEAD, lake, PREFIX) == []  # nothing new
    assert len(lake.keys(PREFIX)) == 2  # history kept: both batches


def test_rate_limit_waits_as_long_as_retry_after_says(fake):
    sleeps = Sleeps()
    fake.script(
        "/queryAll",
        429,
        [{"message": "Too many requests", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
        headers={"Retry-After": "7"},
    )
    pages = list(_client(fake, sleeps).query(LEAD.soql()))
    assert sum(map(len, pages)) == 5
    assert sleeps == [7.0]


def test_transient_5xx_is_retried_with_exponential_backoff(fake):
    sleeps = Sleeps()
    fake.script(
        "/queryAll/", 503, [{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}], times=2
    )
    pages = list(_client(fake, sleeps).query(LEAD.soql()))
    assert sum(map(len, pages)) == 5  # the second page succeeded on its third attempt
    assert sleeps == [1.0, 2.0]


def test_persistent_5xx_gives_up_after_the_attempts_with_a_clear_error(fake, lake):
    sleeps = Sleeps()
    fake.script("/queryAll", 500, [{"message": "boom", "errorCode": "UNKNOWN_EXCEPTION"}], times=3)
    with pytest.raises(RetriesExhausted) as err:
        extract_object(_client(fake, sleeps), LEAD, lake, PREFIX)
    assert "Salesforce: GET" in str(err.value) and "failed 3 times" in str(err.value)
    assert "HTTP 500" in str(err.value) and "UNKNOWN_EXCEPTION" in str(err.value)
    assert sleeps == [1.0, 2.0] and lake.keys(PREFIX) == []


def test_invalid_token_is_a_credential_error_naming_the_variable(fake, lake):
    sleeps = Sleeps()
    with pytest.raises(CredentialError) as err:
        extract_object(_client(fake, sleeps, token="tok-0xDEADBEEF"), LEAD, lake, PREFIX)
    assert "SALESFORCE_ACCESS_TOKEN" in str(err.value) and "INVALID_SESSION_ID" in str(err.value)
    assert "tok-0xDEADBEEF" not in str(err.value)  # the token itself is never shown
    assert sleeps == [] and len(fake.requests) == 1 and lake.keys(PREFIX) == []


def test_org_request_limit_is_not_retried(fake):
    body = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    fake.script("/queryAll", 403, body)
    with pytest.raises(RateLimited, match="allowance is exhausted"):
        list(_client(fake).query(LEAD.soql()))
    assert len(fake.requests) == 1


def test_a_retry_after_longer_than_a_run_should_wait_fails_at_once(fake):
    sleeps = Sleeps()
    fake.script("/queryAll", 429, [], headers={"Retry-After": "3600"})
    with pytest.raises(RateLimited, match="3600 s"):
        list(_client(fake, sleeps).query(LEAD.soql()))
    assert sleeps == []


def test_renamed_field_is_reported_and_nothing_is_written(fake, lake):
    fake.salesforce.rename_field("Lead", "Company", "Company_Name__c")
    with pytest.raises(SchemaDrift) as err:
        extract_object(_client(fake), LEAD, lake, PREFIX)
    assert "Salesforce Lead: field 'Company'" in str(err.value)
    assert "INVALID_FIELD" in str(err.value)
    assert lake.keys(PREFIX) == []


def test_records_whose_fields_changed_are_rejected_not_written_as_nulls(fake, lake):
    renamed = leads(1)[0]
    renamed["CompanyName"] = renamed.pop("Company")
    fake.script("/queryAll", 200, {"totalSize": 1, "done": True, "records": [renamed]})
    with pytest.raises(SchemaDrift) as err:
        extract_object(_client(fake), LEAD, lake, PREFIX)
    message = str(err.value)
    assert "Lead" in message and "Company missing" in message and "CompanyName" in message
    assert "renamed?" in message and lake.keys(PREFIX) == []

    retyped = record("Opportunity", 1, T0, Amount="12,000")
    fake.script("/queryAll", 200, {"totalSize": 1, "done": True, "records": [retyped]})
    with pytest.raises(SchemaDrift, match=r"Opportunity\.Amount: expected decimal128\(18, 2\)"):
        extract_object(_client(fake), OPPORTUNITY, lake, "salesforce/opportunity")
    assert lake.keys("salesforce/opportunity") == []


def test_an_empty_object_lands_as_an_empty_batch_with_its_schema(fake, lake):
    (batch,) = extract_object(_client(fake), OPPORTUNITY, lake, "salesforce/opportunity")
    table = read_parquet(lake, batch.key)
    assert table.num_rows == 0 and table.schema.names == OPPORTUNITY.arrow_schema.names
    assert extract_object(_client(fake), OPPORTUNITY, lake, "salesforce/opportunity") == []
