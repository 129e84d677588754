"""Risk model assets: features -> model (weekly) -> scores (as soon as new data arrives).

The ML itself is library code in ``lakehouse/ml`` (tested without Dagster); these
definitions only wire it to the warehouse. See docs/risk-model.md.
"""

from collections.abc import Iterator

import dagster as dg
import pyarrow as pa

from lakehouse.components.teams import team_key, warehouse_input

TEAM = "underwriting"
FEATURES = team_key(TEAM, "application_features")
MODEL = team_key(TEAM, "risk_model")
SCORES = team_key(TEAM, "application_scores")
QUALITY_CHECK = "beats_baseline_on_holdout"
MIN_AUC = 0.6


@dg.asset(
    key=FEATURES,
    ins={
        t: warehouse_input(f"platform/{t}")
        for t in ("applications", "invoices", "companies", "trades")
    },
    description=(
        "One row per invoice of every application: point-in-time features as of the "
        "application's submission (invoice amount and terms, debtor concentration, seller and "
        "debtor history of late payments, defaults and overdue trades, debtor sector) and the "
        "label `bad` (paid late or defaulted) once the invoice's due date has passed."
    ),
    kinds={"duckdb", "parquet"},
    automation_condition=dg.AutomationCondition.eager(),
)
def application_features(
    applications: pa.Table, invoices: pa.Table, companies: pa.Table, trades: pa.Table
) -> dg.Output:
    import pyarrow.compute as pc

    from lakehouse.ml.features import build_features, data_cutoff

    table = build_features(applications, invoices, companies, trades)
    bad = table.column("bad")
    labelled = len(bad) - bad.null_count
    return dg.Output(
        table,
        metadata={
            "invoices": table.num_rows,
            "labelled": labelled,
            "bad_rate": round(pc.mean(bad.cast(pa.float64())).as_py() or 0.0, 4),
            "data_cutoff": str(data_cutoff(applications, invoices, companies, trades)),
        },
    )


class RiskModelConfig(dg.Config):
    holdout_weeks: int = 8
    """Weeks of the most recent fully resolved history held out for evaluation."""
    regularization_c: float = 1.0
    """Inverse L2 strength of the logistic regression."""


@dg.asset(
    key=MODEL,
    ins={"features": dg.AssetIn(FEATURES)},
    description=(
        "Probability that an invoice is paid late or defaults: a logistic regression on the "
        "standardised features, stored as a readable table (feature, coefficient, mean, "
        "scale, description; `(intercept)` row). Metadata: ROC AUC, Brier, calibration on a "
        "time-based holdout, baselines, and a plot. Retrained weekly (Monday 03:00 UTC)."
    ),
    kinds={"scikitlearn", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            QUALITY_CHECK,
            asset=MODEL,
            description=(
                f"On the time-based holdout the model's ROC AUC is at least {MIN_AUC} and "
                "above the best single-feature model's, and its Brier score is below the "
                "base rate's."
            ),
        )
    ],
    # Weekly, so scores stay comparable within a week; and at once while there is none.
    automation_condition=(
        dg.AutomationCondition.on_cron("0 3 * * 1")
        | (dg.AutomationCondition.eager() & dg.AutomationCondition.missing())
    ),
)
def risk_model(
    context: dg.AssetExecutionContext, config: RiskModelConfig, features: pa.Table
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    from lakehouse.ml.evaluate import NotEnoughHistory, train_and_evaluate
    from lakehouse.ml.model import empty_model_table
    from lakehouse.ml.plot import evaluation_png, markdown_image, markdown_table

    try:
        training = train_and_evaluate(
            features.to_pandas(), config.holdout_weeks, config.regularization_c
        )
    except NotEnoughHistory as exc:
        context.log.warning(f"risk model not trained: {exc}")
        yield dg.Output(empty_model_table(), metadata={"status": f"not trained: {exc}"})
        yield dg.AssetCheckResult(
            check_name=QUALITY_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"reason": str(exc)},
        )
        return
    ev = training.evaluation
    model_table = training.model.to_table()
    yield dg.Output(
        model_table,
        metadata={
            "status": "trained",
            "n_labelled": training.n_labelled,
            **ev.figures(),
            "evaluation_plot": dg.MetadataValue.md(
                markdown_image(evaluation_png(ev), "ROC and calibration on the holdout")
            ),
            "reliability": dg.MetadataValue.md(markdown_table(ev.reliability)),
            "coefficients": dg.MetadataValue.md(markdown_table(model_table.to_pandas())),
        },
    )
    yield dg.AssetCheckResult(
        check_name=QUALITY_CHECK,
        passed=bool(
            ev.auc >= MIN_AUC and ev.auc > ev.single_feature_auc and ev.brier < ev.prior_brier
        ),
        metadata={
            "holdout_auc": ev.auc,
            f"single_feature_auc ({ev.single_feature})": ev.single_feature_auc,
            "holdout_brier": ev.brier,
            "base_rate_brier": ev.prior_brier,
        },
    )


@dg.asset(
    key=SCORES,
    ins={"features": dg.AssetIn(FEATURES), "model": dg.AssetIn(MODEL)},
    description=(
        "Every application with its risk score: the probability that its riskiest invoice is "
        "paid late or defaults (features as of submission), that invoice, and the top 3 "
        "reasons (largest contributions in log-odds that carry a signal). The open queue "
        "(`status = 'submitted'`) comes first, riskiest first, then decided applications, "
        "newest first. Rescored as soon as new data arrives."
    ),
    kinds={"python", "parquet"},
    automation_condition=dg.AutomationCondition.eager(),
)
def application_scores(features: pa.Table, model: pa.Table) -> dg.Output:
    import pyarrow.compute as pc

    from lakehouse.ml.model import RiskModel
    from lakehouse.ml.score import score_applications

    scores = score_applications(features.to_pandas(), RiskModel.from_table(model))
    pending = pc.equal(scores.column("status"), "submitted")
    pending_scores = scores.column("score").filter(pending)
    return dg.Output(
        scores,
        metadata={
            "applications": scores.num_rows,
            "awaiting_decision": pc.sum(pending).as_py() or 0,
            "awaiting_decision_score_ge_0_5": pc.sum(pc.greater_equal(pending_scores, 0.5)).as_py()
            or 0,
            "model": "trained" if model.num_rows else "none yet",
        },
    )
