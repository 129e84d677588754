"""Asset checks on the marketing projections: one row per record, one per report grain."""

import dagster as dg
import pyarrow as pa

from lakehouse.defs.marketing.keys import GA, SF, state_key
from lakehouse.sources.google_analytics.schema import REPORTS
from lakehouse.sources.salesforce.schema import OBJECTS


def unique_check(key: dg.AssetKey, columns: list[str]) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key, name="grain_unique", description=f"One row per ({', '.join(columns)})."
    )
    def _check(state: pa.Table) -> dg.AssetCheckResult:
        groups = state.group_by(columns).aggregate([]).num_rows if state.num_rows else 0
        return dg.AssetCheckResult(
            passed=groups == state.num_rows, metadata={"duplicates": state.num_rows - groups}
        )

    return _check


marketing_checks = [
    unique_check(state_key(GA, report.name), report.grain) for report in REPORTS.values()
] + [unique_check(state_key(SF, name), ["id"]) for name in OBJECTS]
