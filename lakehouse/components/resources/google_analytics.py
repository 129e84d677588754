"""Google Analytics as a Dagster resource: which property, the token, and how to pull."""

import time
from collections.abc import Callable

import dagster as dg
from pydantic import Field

from lakehouse.sources.google_analytics.client import (
    DEFAULT_BASE_URL,
    PAGE_SIZE,
    PROPERTY_ENV,
    TOKEN_ENV,
    GoogleAnalyticsClient,
)
from lakehouse.sources.google_analytics.extract import BACKFILL_DAYS, LOOKBACK_DAYS
from lakehouse.sources.http import CredentialError, RetryPolicy


class GoogleAnalyticsResource(dg.ConfigurableResource):
    """A GA4 property's Data API. Naming the property enables the source; the OAuth access
    token (scope ``analytics.readonly``) then must be given (``dg.EnvVar``: resolved at run
    time, never shown). Obtaining the token is outside this project."""

    property_id: str = Field(
        default="", description=f"GA4 property id (from {PROPERTY_ENV}); empty: disabled"
    )
    access_token: str | None = Field(default=None, description=f"OAuth token ({TOKEN_ENV})")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="Data API endpoint")
    lookback_days: int = Field(
        default=LOOKBACK_DAYS, description="complete days re-pulled each run (GA revises them)"
    )
    backfill_days: int = Field(default=BACKFILL_DAYS, description="days pulled by a first run")
    page_size: int = Field(default=PAGE_SIZE, description="rows per runReport page")
    max_attempts: int = Field(default=5, description="attempts per request (429, 5xx)")

    @property
    def enabled(self) -> bool:
        return bool(self.property_id)

    def get_client(self, sleep: Callable[[float], None] = time.sleep) -> GoogleAnalyticsClient:
        if not self.access_token:
            raise CredentialError(
                f"Google Analytics: no access token; set {TOKEN_ENV} "
                f"(the property is {self.property_id})"
            )
        return GoogleAnalyticsClient(
            self.property_id,
            self.access_token,
            base_url=self.base_url,
            policy=RetryPolicy(max_attempts=self.max_attempts),
            sleep=sleep,
        )
