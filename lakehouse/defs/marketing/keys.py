"""Asset keys of the marketing domain, one per layer: source -> lake -> warehouse.

``source/<api>/<name>`` -> ``lake/<api>/<name>`` -> ``warehouse/marketing/<projection>``,
where ``<api>`` is ``google_analytics`` (``<name>`` a report) or ``salesforce`` (``<name>`` an
sObject in lower case).
"""

import dagster as dg

from lakehouse.sources.google_analytics.schema import REPORTS
from lakehouse.sources.salesforce.schema import OBJECTS

GROUP = "marketing"
OWNERS = ["team:marketing"]
GA, SF = "google_analytics", "salesforce"
KINDS = {GA: "google_analytics", SF: "salesforce"}

# lake name -> warehouse projection name
PROJECTIONS = {
    (GA, "traffic_daily"): "web_traffic_daily",
    (GA, "landing_pages_daily"): "landing_pages_daily",
    (SF, "lead"): "leads",
    (SF, "account"): "accounts",
    (SF, "opportunity"): "opportunities",
}
SOURCES = [(GA, name) for name in REPORTS] + [(SF, name) for name in OBJECTS]
assert set(SOURCES) == set(PROJECTIONS), "every report and object has a projection"


def source_key(api: str, name: str) -> dg.AssetKey:
    return dg.AssetKey(["source", api, name])


def lake_key(api: str, name: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", api, name])


def state_key(api: str, name: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", "marketing", PROJECTIONS[(api, name)]])


def lake_prefix(api: str, name: str) -> str:
    """Where the batches live in the lake store: ``google_analytics/traffic_daily``."""
    return f"{api}/{name}"


GA_LAKE_KEYS = [lake_key(GA, name) for name in REPORTS]
SF_LAKE_KEYS = [lake_key(SF, name) for name in OBJECTS]
