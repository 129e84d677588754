"""The two API resources, configured from the settings (the marketing domain's own).

A source is enabled by naming what to read: ``GOOGLE_ANALYTICS_PROPERTY_ID``,
``SALESFORCE_INSTANCE_URL``. Tokens (``GOOGLE_ANALYTICS_TOKEN``, ``SALESFORCE_ACCESS_TOKEN``)
are passed as ``dg.EnvVar``: resolved at run time, never shown. Base URLs default to the real
APIs; tests and the demo point them at the local fake (``lakehouse simulate marketing
--serve``). See docs/third-party-sources.md.
"""

import dagster as dg

from lakehouse.components.resources.google_analytics import GoogleAnalyticsResource
from lakehouse.components.resources.salesforce import SalesforceResource
from lakehouse.settings import GA_TOKEN_ENV, SF_TOKEN_ENV, Settings
from lakehouse.sources.google_analytics import client as ga
from lakehouse.sources.salesforce import client as sf


@dg.definitions
def marketing_resources() -> dg.Definitions:
    settings = Settings.from_env()
    return dg.Definitions(
        resources={
            "google_analytics": GoogleAnalyticsResource(
                property_id=settings.ga_property_id,
                access_token=dg.EnvVar(GA_TOKEN_ENV) if settings.ga_token_set else None,
                base_url=settings.ga_base_url or ga.DEFAULT_BASE_URL,
            ),
            "salesforce": SalesforceResource(
                instance_url=settings.sf_instance_url,
                access_token=dg.EnvVar(SF_TOKEN_ENV) if settings.sf_token_set else None,
                api_version=settings.sf_api_version or sf.DEFAULT_API_VERSION,
            ),
        }
    )
