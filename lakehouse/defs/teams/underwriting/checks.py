"""Checks on the underwriting team's assets."""

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.components.teams import warehouse_input
from lakehouse.defs.teams.underwriting.assets import FEATURES, SCORES


@dg.asset_check(
    asset=FEATURES,
    additional_ins={"invoices": warehouse_input("platform/invoices")},
    description="One feature row per invoice, none missing, none twice.",
)
def one_row_per_invoice(application_features: pa.Table, invoices: pa.Table) -> dg.AssetCheckResult:
    ids = application_features.column("invoice_id")
    duplicates = len(ids) - len(pc.unique(ids))
    return dg.AssetCheckResult(
        passed=duplicates == 0 and len(ids) == invoices.num_rows,
        metadata={"rows": len(ids), "invoices": invoices.num_rows, "duplicates": duplicates},
    )


@dg.asset_check(
    asset=SCORES,
    additional_ins={"applications": warehouse_input("platform/applications")},
    description="Every application has exactly one score row; scores are probabilities.",
)
def every_application_scored(
    application_scores: pa.Table, applications: pa.Table
) -> dg.AssetCheckResult:
    scores = application_scores.column("score")
    outside = pc.sum(pc.or_(pc.less(scores, 0), pc.greater(scores, 1))).as_py() or 0
    ids = application_scores.column("application_id")
    return dg.AssetCheckResult(
        passed=len(ids) == applications.num_rows == len(pc.unique(ids)) and outside == 0,
        metadata={
            "rows": len(ids),
            "applications": applications.num_rows,
            "scores_outside_0_1": outside,
            "unscored (no model yet)": scores.null_count,
        },
    )
