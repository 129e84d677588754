"""When the APIs are read: Salesforce hourly, Google Analytics daily. Running by default.

The APIs offer no cheap change signal we are allowed to poll freely (each call counts against
the org's daily allowance or the property's quota), so extraction is scheduled, and each run
asks only for what is new. Salesforce changes all day and sales wants fresh leads: hourly.
GA4 finishes processing a day hours after it ends and revises it for a day or two: daily, in
the early morning (UTC), re-pulling a lookback window.

Both run by default, like every sensor here (data flows without opt-in). A deployment without
an API configured loses nothing: the schedule skips with the reason (no failing runs), and
starts running as soon as the variables are set.
"""

import dagster as dg

from lakehouse.components.resources.google_analytics import GoogleAnalyticsResource
from lakehouse.components.resources.salesforce import SalesforceResource
from lakehouse.defs.marketing.keys import GA_LAKE_KEYS, SF_LAKE_KEYS
from lakehouse.sources.google_analytics.client import PROPERTY_ENV
from lakehouse.sources.salesforce.client import INSTANCE_ENV


@dg.schedule(
    name="salesforce_hourly",
    cron_schedule="7 * * * *",  # off the hour, away from everyone else's top-of-hour jobs
    execution_timezone="UTC",
    target=SF_LAKE_KEYS,
    description="Extract new and changed Salesforce records (Lead, Account, Opportunity).",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def salesforce_hourly(
    context: dg.ScheduleEvaluationContext, salesforce: SalesforceResource
) -> dg.RunRequest | dg.SkipReason:
    if not salesforce.enabled:
        return dg.SkipReason(f"Salesforce is not configured: set {INSTANCE_ENV} and its token")
    return dg.RunRequest()


@dg.schedule(
    name="google_analytics_daily",
    cron_schedule="17 5 * * *",
    execution_timezone="UTC",
    target=GA_LAKE_KEYS,
    description="Extract yesterday's Google Analytics reports, re-pulling the lookback window.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def google_analytics_daily(
    context: dg.ScheduleEvaluationContext, google_analytics: GoogleAnalyticsResource
) -> dg.RunRequest | dg.SkipReason:
    if not google_analytics.enabled:
        return dg.SkipReason(
            f"Google Analytics is not configured: set {PROPERTY_ENV} and its token"
        )
    return dg.RunRequest()
