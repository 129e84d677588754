"""The shared HTTP helper: Retry-After in both forms, capped backoff, connection failures."""

import datetime as dt
import socket

import pytest
import requests

from lakehouse.sources.http import RetriesExhausted, RetryPolicy, display_url, retry_after, send
from lakehouse_tests.sources.helpers import Sleeps


def _response(retry_after_value: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    if retry_after_value is not None:
        response.headers["Retry-After"] = retry_after_value
    return response


def test_retry_after_in_seconds_or_as_an_http_date():
    now = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after(_response("7")) == 7.0
    assert retry_after(_response("Sun, 01 Mar 2026 12:00:30 GMT"), now=now) == 30.0
    assert retry_after(_response("Sun, 01 Mar 2026 11:00:00 GMT"), now=now) == 0.0  # past
    assert retry_after(_response("soon")) is None
    assert retry_after(_response(None)) is None


def test_backoff_doubles_and_is_capped():
    policy = RetryPolicy(max_attempts=8, backoff_base=1.0, backoff_max=10.0)
    assert [policy.backoff(a) for a in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_connection_failures_are_retried_then_reported_without_the_query():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    with pytest.raises(RetriesExhausted) as err:
        send(
            requests.Session(),
            "GET",
            f"http://127.0.0.1:{port}/services/data/v61.0/query?q=SELECT+Id+FROM+Lead",
            api="Salesforce",
            policy=RetryPolicy(max_attempts=3),
            sleep=sleeps,
            headers={"Authorization": "Bearer tok-0xSECRET"},
        )
    message = str(err.value)
    assert message.startswith(f"Salesforce: GET http://127.0.0.1:{port}/services/data/v61.0/")
    assert "failed 3 times" in message and "ConnectionError" in message
    assert "SELECT" not in message.split("last:")[0] and "tok-0xSECRET" not in message
    assert sleeps == [1.0, 2.0]


def test_display_url_drops_the_query_string():
    assert display_url("https://x.example/a/b?q=1&token=2") == "https://x.example/a/b?…"
    assert display_url("https://x.example/a") == "https://x.example/a"
