"""The Google Analytics reports and Salesforce objects as source assets (outside the lake)."""

import dagster as dg

from lakehouse.defs.marketing.keys import GA, GROUP, KINDS, OWNERS, SF, source_key
from lakehouse.sources.google_analytics.schema import REPORTS
from lakehouse.sources.salesforce.schema import OBJECTS

source_specs = [
    dg.AssetSpec(
        source_key(GA, report.name),
        description=f"Google Analytics 4 report `{report.name}` (Data API runReport): "
        f"{report.description}",
        group_name=GROUP,
        owners=OWNERS,
        kinds={KINDS[GA]},
    )
    for report in REPORTS.values()
] + [
    dg.AssetSpec(
        source_key(SF, name),
        description=f"Salesforce object `{sobject.name}` (REST API, SOQL): {sobject.description}",
        group_name=GROUP,
        owners=OWNERS,
        kinds={KINDS[SF]},
    )
    for name, sobject in OBJECTS.items()
]
