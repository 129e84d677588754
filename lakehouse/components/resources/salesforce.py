"""Salesforce as a Dagster resource: where the org is and the token to read it with."""

import time
from collections.abc import Callable

import dagster as dg
from pydantic import Field

from lakehouse.sources.http import CredentialError, RetryPolicy
from lakehouse.sources.salesforce.client import (
    DEFAULT_API_VERSION,
    INSTANCE_ENV,
    TOKEN_ENV,
    SalesforceClient,
)


class SalesforceResource(dg.ConfigurableResource):
    """A Salesforce org's REST API. Naming the org (``instance_url``) enables the source;
    the access token then must be given (``dg.EnvVar``: resolved at run time, never shown).
    Obtaining the token (an OAuth flow) is outside this project."""

    instance_url: str = Field(
        default="",
        description=f"https://<domain>.my.salesforce.com (from {INSTANCE_ENV}); empty: disabled",
    )
    access_token: str | None = Field(default=None, description=f"OAuth token ({TOKEN_ENV})")
    api_version: str = Field(default=DEFAULT_API_VERSION, description="REST API version")
    batch_size: int = Field(default=2000, description="records per page (200..2000)")
    max_attempts: int = Field(default=5, description="attempts per request (429, 5xx)")

    @property
    def enabled(self) -> bool:
        return bool(self.instance_url)

    def get_client(self, sleep: Callable[[float], None] = time.sleep) -> SalesforceClient:
        if not self.access_token:
            raise CredentialError(
                f"Salesforce: no access token; set {TOKEN_ENV} (the org is {self.instance_url})"
            )
        return SalesforceClient(
            self.instance_url,
            self.access_token,
            api_version=self.api_version,
            batch_size=self.batch_size,
            policy=RetryPolicy(max_attempts=self.max_attempts),
            sleep=sleep,
        )
