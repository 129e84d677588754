"""HTTP for third-party APIs: bounded retries, rate limits honoured, errors that say what to do.

:func:`send` makes one logical request. A ``429`` waits for the ``Retry-After`` the API asks
for (seconds or an HTTP date; exponential backoff if absent); a ``500/502/503/504`` or a
connection error waits an exponential backoff (``base * 2**(attempt-1)``, capped). Attempts
are bounded; the last failure is raised as :class:`RetriesExhausted`. A rate limit asking for
a longer wait than ``max_retry_after`` is raised at once as :class:`RateLimited`: a scheduled
extraction should fail and let its next run resume from the lake's watermark rather than
hold a worker for an hour. Any other status is returned for the client to interpret.

Sleeping is injected (``sleep=``) so tests assert the waits instead of waiting. No jitter:
each API here has a single scheduled reader, so there is no herd to spread out. Request
headers (tokens) never appear in messages; URLs are shown without their query string.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests

RETRY_STATUSES = frozenset({500, 502, 503, 504})
DEFAULT_TIMEOUT = (10.0, 120.0)  # connect, read (seconds)


class APIError(Exception):
    """A third-party API refused or failed a request; the message names the API and the fix."""


class CredentialError(APIError):
    """Missing, expired or insufficient credentials (HTTP 401/403): retrying cannot help."""


class RateLimited(APIError):
    """The API's quota is exhausted for longer than a run should wait."""


class RetriesExhausted(APIError):
    """A transient failure (5xx, 429, connection) persisted through every attempt."""


class SchemaDrift(APIError):
    """The API's fields no longer match the expected schema (a field renamed, removed or
    retyped). Nothing is written: a renamed field must not become a column of nulls."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_base: float = 1.0  # seconds before the second attempt; doubles each time
    backoff_max: float = 60.0  # cap on one backoff wait
    max_retry_after: float = 300.0  # a 429 asking for longer fails at once (RateLimited)

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))


DEFAULT_POLICY = RetryPolicy()


def retry_after(response: requests.Response, now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait (``Retry-After``: delta-seconds or HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def display_url(url: str) -> str:
    """``url`` as shown in messages and logs: without its query string."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    api: str,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
    **kwargs,
) -> requests.Response:
    """Send a request, retrying rate limits and transient failures; see the module docstring.

    ``api`` names the API in error messages (e.g. ``"Salesforce"``).
    """
    where = f"{api}: {method} {display_url(url)}"
    problem = ""
    for attempt in range(1, policy.max_attempts + 1):
        try:
            response = session.request(method, url, timeout=timeout, headers=headers, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            problem, wait = f"{type(exc).__name__}: {exc}", policy.backoff(attempt)
        else:
            status = response.status_code
            if status == 429:
                asked = retry_after(response)
                if asked is not None and asked > policy.max_retry_after:
                    raise RateLimited(
                        f"{where} is rate limited (HTTP 429) for {asked:.0f} s, longer than "
                        f"{policy.max_retry_after:.0f} s; the next run resumes where this one "
                        "stopped"
                    )
                problem = "HTTP 429 (rate limited)" + _detail(response)
                wait = asked if asked is not None else policy.backoff(attempt)
            elif status in RETRY_STATUSES:
                asked = retry_after(response)
                problem = f"HTTP {status}" + _detail(response)
                wait = min(asked, policy.max_retry_after) if asked else policy.backoff(attempt)
            else:
                return response
        if attempt == policy.max_attempts:
            break
        sleep(wait)
    raise RetriesExhausted(f"{where} failed {policy.max_attempts} times; last: {problem}")


def _detail(response: requests.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f": {text[:300]}" if text else ""
