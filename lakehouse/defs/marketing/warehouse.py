"""``warehouse/marketing/<projection>``: current state of each report and object.

Merged incrementally from the lake batches not yet seen (the cursor travels in the state
file's metadata), like the platform's projections:

- Salesforce objects: the latest version of each record (``id``, by ``system_modstamp``);
  deleted records stay, flagged ``is_deleted``. Leads and accounts carry ``company_key`` and
  ``registration_key`` (:mod:`lakehouse.warehouse.company_matching`) to join platform
  ``companies``.
- Google Analytics reports: for each date, the rows of the newest batch that pulled it (GA
  revises recent days; a re-pulled day replaces the earlier pull wholesale).

A batch that is unreadable or breaks the schema is quarantined, the good ones merged, and the
run then fails naming each file.
"""

from collections.abc import Callable, Sequence

import dagster as dg
import pyarrow as pa

from lakehouse.components.incremental import Batches, LakeInput, incremental_asset
from lakehouse.defs.marketing.keys import (
    GA,
    GROUP,
    OWNERS,
    SF,
    lake_key,
    lake_prefix,
    state_key,
)
from lakehouse.sources.google_analytics.schema import REPORTS
from lakehouse.sources.salesforce.schema import OBJECTS
from lakehouse.warehouse.company_matching import with_company_keys
from lakehouse.warehouse.current_state import merge

COMPANY_COLUMNS = {
    "lead": ("company", "country", "registration_number"),
    "account": ("name", "billing_country", "registration_number"),
}


def state_asset(
    api: str,
    name: str,
    schema: pa.Schema,
    key: Sequence[str],
    version: str | None,
    description: str,
    finish: Callable[[pa.Table], pa.Table] | None = None,
) -> dg.AssetsDefinition:
    def _merge(previous: pa.Table | None, new: Batches) -> pa.Table:
        state = merge(previous, new[name], schema, key=key, version=version)
        return finish(state) if finish else state

    return incremental_asset(
        state_key(api, name),
        {name: LakeInput(lake_prefix(api, name), schema)},
        _merge,
        deps=[lake_key(api, name)],
        description=description,
        group_name=GROUP,
        owners=OWNERS,
    )


def _company_keys(columns: tuple[str, str, str]) -> Callable[[pa.Table], pa.Table]:
    return lambda table: with_company_keys(table, *columns)


state_assets = [
    state_asset(
        GA,
        report.name,
        report.arrow_schema,
        key=("property_id", "date"),
        version=None,
        description=(
            f"{report.description} Current state of Google Analytics report `{report.name}`: "
            "each day as last pulled."
        ),
    )
    for report in REPORTS.values()
] + [
    state_asset(
        SF,
        name,
        sobject.arrow_schema,
        key=("id",),
        version="system_modstamp",
        description=(
            f"Salesforce {sobject.name}: {sobject.description} The latest version of every "
            "record (deleted ones flagged `is_deleted`)"
            + (
                "; `company_key`/`registration_key` match platform companies."
                if name in COMPANY_COLUMNS
                else "."
            )
        ),
        finish=_company_keys(COMPANY_COLUMNS[name]) if name in COMPANY_COLUMNS else None,
    )
    for name, sobject in OBJECTS.items()
]
