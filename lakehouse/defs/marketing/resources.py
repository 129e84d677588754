"""The two API resources, configured from the environment (the marketing domain's own).

A source is enabled by naming what to read: ``GOOGLE_ANALYTICS_PROPERTY_ID``,
``SALESFORCE_INSTANCE_URL``. Tokens (``GOOGLE_ANALYTICS_TOKEN``, ``SALESFORCE_ACCESS_TOKEN``)
are passed as ``dg.EnvVar``: resolved at run time, never shown. Base URLs default to the real
APIs; tests and the demo point them at the local fake (``lakehouse simulate marketing
--serve``). See docs/third-party-sources.md.
"""

import os

import dagster as dg

from lakehouse.components.resources.google_analytics import GoogleAnalyticsResource
from lakehouse.components.resources.salesforce import SalesforceResource
from lakehouse.sources.google_analytics import client as ga
from lakehouse.sources.salesforce import client as sf

GA_BASE_URL_ENV = "GOOGLE_ANALYTICS_BASE_URL"
SF_API_VERSION_ENV = "SALESFORCE_API_VERSION"


def _secret(name: str) -> dg.EnvVar | None:
    return dg.EnvVar(name) if os.environ.get(name) else None


@dg.definitions
def marketing_resources() -> dg.Definitions:
    env = os.environ
    return dg.Definitions(
        resources={
            "google_analytics": GoogleAnalyticsResource(
                property_id=env.get(ga.PROPERTY_ENV, ""),
                access_token=_secret(ga.TOKEN_ENV),
                base_url=env.get(GA_BASE_URL_ENV) or ga.DEFAULT_BASE_URL,
            ),
            "salesforce": SalesforceResource(
                instance_url=env.get(sf.INSTANCE_ENV, ""),
                access_token=_secret(sf.TOKEN_ENV),
                api_version=env.get(SF_API_VERSION_ENV) or sf.DEFAULT_API_VERSION,
            ),
        }
    )
