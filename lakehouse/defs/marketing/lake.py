"""``lake/google_analytics/<report>`` and ``lake/salesforce/<object>``: immutable API batches.

Each run asks the API only for what is new since the lake's own watermark (Salesforce:
``SystemModstamp``; Google Analytics: the last complete date, re-pulling a lookback window)
and appends it as a new Parquet batch. API errors fail the run with the client's one-line
message (credentials, rate limit, schema drift, retries exhausted); the next run resumes from
the watermark. A source that is not configured is skipped with a warning: its assets
materialise nothing new, and its schedule says why it does not run.
"""

import dagster as dg

from lakehouse.components.resources.google_analytics import GoogleAnalyticsResource
from lakehouse.components.resources.salesforce import SalesforceResource
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.defs.marketing.keys import (
    GA,
    GROUP,
    KINDS,
    OWNERS,
    SF,
    lake_key,
    lake_prefix,
    source_key,
)
from lakehouse.sources.google_analytics.client import PROPERTY_ENV
from lakehouse.sources.google_analytics.extract import extract_report
from lakehouse.sources.google_analytics.schema import REPORTS, Report
from lakehouse.sources.http import APIError
from lakehouse.sources.salesforce.client import INSTANCE_ENV
from lakehouse.sources.salesforce.extract import extract_object
from lakehouse.sources.salesforce.schema import OBJECTS, SObject


def _not_configured(context: dg.AssetExecutionContext, why: str) -> dg.MaterializeResult:
    context.log.warning(f"{why}: nothing extracted (see docs/third-party-sources.md)")
    return dg.MaterializeResult(metadata={"rows": 0, "not_configured": why})


def _failure(exc: APIError) -> dg.Failure:
    # Retrying the step cannot fix credentials or drift; transient errors were already retried
    # by the client, and the next scheduled run resumes from the lake's watermark.
    return dg.Failure(description=str(exc), allow_retries=False)


def ga_lake_asset(report: Report) -> dg.AssetsDefinition:
    prefix = lake_prefix(GA, report.name)

    @dg.asset(
        key=lake_key(GA, report.name),
        deps=[source_key(GA, report.name)],
        description=(
            f"Google Analytics report `{report.name}` as immutable Parquet batches: each run "
            "pulls the days since the last complete date pulled, re-pulling a lookback window "
            "because GA revises recent days (the warehouse keeps each day's newest pull)."
        ),
        group_name=GROUP,
        owners=OWNERS,
        kinds={KINDS[GA], "parquet"},
        tags={"layer": "lake"},
        pool=f"lake:{prefix}",  # one writer per lake prefix keeps keys in write order
    )
    def _extract(
        context: dg.AssetExecutionContext,
        google_analytics: GoogleAnalyticsResource,
        lake: ObjectStore,
    ) -> dg.MaterializeResult:
        if not google_analytics.enabled:
            return _not_configured(context, f"Google Analytics is not configured ({PROPERTY_ENV})")
        store = lake.store
        try:
            batches = extract_report(
                google_analytics.get_client(),
                report,
                store,
                prefix,
                lookback_days=google_analytics.lookback_days,
                backfill_days=google_analytics.backfill_days,
                page_size=google_analytics.page_size,
            )
        except APIError as exc:
            raise _failure(exc) from exc
        for batch in batches:
            context.log.info(
                f"wrote {batch.rows} rows ({batch.start}..{batch.end}) to {store.uri(batch.key)}"
            )
        pulled = [b for b in batches if b.end is not None]
        return dg.MaterializeResult(
            metadata={
                "rows": sum(b.rows for b in batches),
                "batches": [store.uri(b.key) for b in batches],
                "date_range": f"{pulled[0].start}/{pulled[0].end}" if pulled else "unchanged",
                "high_watermark": pulled[-1].end.isoformat() if pulled else "unchanged",
            }
        )

    return _extract


def salesforce_lake_asset(name: str, sobject: SObject) -> dg.AssetsDefinition:
    prefix = lake_prefix(SF, name)

    @dg.asset(
        key=lake_key(SF, name),
        deps=[source_key(SF, name)],
        description=(
            f"Every new or changed Salesforce `{sobject.name}` record (deleted ones too) since "
            "the last extraction, by `SystemModstamp`, appended to the lake as an immutable "
            "Parquet batch: every version kept."
        ),
        group_name=GROUP,
        owners=OWNERS,
        kinds={KINDS[SF], "parquet"},
        tags={"layer": "lake"},
        pool=f"lake:{prefix}",
    )
    def _extract(
        context: dg.AssetExecutionContext, salesforce: SalesforceResource, lake: ObjectStore
    ) -> dg.MaterializeResult:
        if not salesforce.enabled:
            return _not_configured(context, f"Salesforce is not configured ({INSTANCE_ENV})")
        store = lake.store
        try:
            batches = extract_object(salesforce.get_client(), sobject, store, prefix)
        except APIError as exc:
            raise _failure(exc) from exc
        for batch in batches:
            context.log.info(f"wrote {batch.rows} records to {store.uri(batch.key)}")
        marks = [b.watermark for b in batches if b.watermark]
        return dg.MaterializeResult(
            metadata={
                "rows": sum(b.rows for b in batches),
                "batches": [store.uri(b.key) for b in batches],
                "high_watermark": marks[-1].isoformat() if marks else "unchanged",
            }
        )

    return _extract


lake_assets = [ga_lake_asset(report) for report in REPORTS.values()] + [
    salesforce_lake_asset(name, sobject) for name, sobject in OBJECTS.items()
]
