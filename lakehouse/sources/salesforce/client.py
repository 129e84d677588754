"""A Salesforce REST API client: SOQL queries paged through ``nextRecordsUrl``.

``GET {instance}/services/data/{version}/queryAll?q=<SOQL>`` returns ``{totalSize, done,
records, nextRecordsUrl}``; the client follows ``nextRecordsUrl`` until ``done``. ``queryAll``
(rather than ``query``) also returns deleted records (``IsDeleted = true``, in the recycle bin
for 15 days): incremental extraction would otherwise never learn of a deletion. Errors come
as a JSON list ``[{"message", "errorCode"}]`` and are translated into one-line errors:
401 ``INVALID_SESSION_ID`` -> :class:`CredentialError` naming the token's variable,
400 ``INVALID_FIELD`` -> :class:`SchemaDrift` naming the object and field, 403
``REQUEST_LIMIT_EXCEEDED`` (the org's 24-hour API allowance) -> :class:`RateLimited`.
"""

import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

import requests

from lakehouse.settings import SF_INSTANCE_ENV, SF_TOKEN_ENV
from lakehouse.sources.http import (
    DEFAULT_POLICY,
    APIError,
    CredentialError,
    RateLimited,
    RetryPolicy,
    SchemaDrift,
    send,
)

API = "Salesforce"
DEFAULT_API_VERSION = "v61.0"
TOKEN_ENV, INSTANCE_ENV = SF_TOKEN_ENV, SF_INSTANCE_ENV
_NO_SUCH_COLUMN = re.compile(r"No such column '([^']+)' on entity '([^']+)'")


class SalesforceClient:
    def __init__(
        self,
        instance_url: str,
        access_token: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        batch_size: int = 2000,
        policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        token_env: str = TOKEN_ENV,
    ) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.api_version = api_version
        self.policy, self.sleep, self.token_env = policy, sleep, token_env
        self.session = session or requests.Session()
        self._headers = {
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json",
            # Records per page: 200..2000 (Salesforce's default and maximum is 2000).
            "Sforce-Query-Options": f"batchSize={batch_size}",
        }

    def query(self, soql: str, *, include_deleted: bool = True) -> Iterator[list[dict[str, Any]]]:
        """The query's records, one page (list of records) at a time."""
        endpoint = "queryAll" if include_deleted else "query"
        url = f"{self.instance_url}/services/data/{self.api_version}/{endpoint}"
        params: dict[str, str] | None = {"q": soql}
        while True:
            body = self._get(url, params)
            if not isinstance(body, dict) or not {"done", "records"} <= set(body):
                raise APIError(f"{API}: unexpected query response from {url}: {str(body)[:200]}")
            yield body["records"]
            if body["done"]:
                return
            next_url = body.get("nextRecordsUrl")
            if not next_url:
                raise APIError(f"{API}: query response not done but without nextRecordsUrl")
            url, params = urljoin(self.instance_url + "/", next_url), None

    def _get(self, url: str, params: dict[str, str] | None) -> Any:
        response = send(
            self.session,
            "GET",
            url,
            api=API,
            policy=self.policy,
            sleep=self.sleep,
            headers=self._headers,
            params=params,
        )
        if response.status_code != 200:
            raise self._error(response)
        try:
            return response.json()
        except ValueError as exc:
            raise APIError(f"{API}: response is not JSON: {response.text[:200]!r}") from exc

    def _error(self, response: requests.Response) -> APIError:
        status = response.status_code
        code, message = _first_error(response)
        detail = f"HTTP {status} {code}: {message}".strip()
        if status == 401:
            return CredentialError(
                f"{API} rejected the access token ({detail}); set a valid token in "
                f"{self.token_env} (tokens expire: obtain a new one from your OAuth flow)"
            )
        if code == "REQUEST_LIMIT_EXCEEDED":
            return RateLimited(
                f"{API}: the org's API request allowance is exhausted ({detail}); the next "
                "run resumes where this one stopped"
            )
        if status == 403:
            return CredentialError(
                f"{API}: the token in {self.token_env} is not allowed to do this ({detail}); "
                "grant its user API access and read access to the object"
            )
        if code == "INVALID_FIELD":
            match = _NO_SUCH_COLUMN.search(message)
            field, sobject = match.groups() if match else ("?", "?")
            return SchemaDrift(
                f"{API} {sobject}: field {field!r} does not exist any more (renamed or removed?) "
                f"({code}). Nothing was written; update {sobject} in "
                "lakehouse/sources/salesforce/schema.py"
            )
        if code == "INVALID_TYPE":
            return SchemaDrift(f"{API}: {message} ({code}). Nothing was written")
        return APIError(f"{API}: {detail}")


def _first_error(response: requests.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text.strip()[:300]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode", "")), " ".join(str(body[0].get("message", "")).split())
    return "", str(body)[:300]
