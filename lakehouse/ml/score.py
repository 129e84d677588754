"""Scores per application: the risk of its riskiest invoice and the top reasons for it.

Rows come as an underwriter works: the open queue (status ``submitted``) first, riskiest first,
then decided applications, newest first. Reasons are the largest contributions that carry a
signal: at least ``MIN_CONTRIBUTION`` in log-odds, and a history of trouble (late payments,
defaults, overdue trades) only when there was some ("0% late" never explains a risk).
"""

import numpy as np
import pandas as pd
import pyarrow as pa

from lakehouse.ml.features import describe
from lakehouse.ml.model import RiskModel

TOP_REASONS = 3
MIN_CONTRIBUTION = 0.05  # log-odds: less is no signal
TROUBLE = {
    "seller_late_rate",
    "seller_defaults",
    "seller_overdue",
    "debtor_late_rate",
    "debtor_defaults",
    "debtor_overdue",
}
"""Features counting past trouble: a reason only when there was some (as displayed)."""
NO_MODEL = "no model yet: not enough trades with a known outcome"
SCORES_SCHEMA = pa.schema(
    [
        ("application_id", pa.int64()),
        ("seller_id", pa.int64()),
        ("submitted_at", pa.timestamp("us")),
        ("status", pa.string()),
        ("invoices", pa.int64()),
        ("score", pa.float64()),
        ("riskiest_invoice_id", pa.int64()),
        *[(f"reason_{i}", pa.string()) for i in range(1, TOP_REASONS + 1)],
    ]
)


def _signal(feature: str, value, contribution: float) -> bool:
    if contribution < MIN_CONTRIBUTION:
        return False
    if feature in TROUBLE:  # shown rounded to a whole number or percent: 0 is no trouble
        shown = float(value) * 100 if feature.endswith("_rate") else float(value)
        return round(shown) > 0
    return True


def reasons(model: RiskModel, frame: pd.DataFrame, top: int = TOP_REASONS) -> list[list[str]]:
    """Per row, the features with the largest contributions that carry a signal (at most
    ``top``, largest first; the one-hot columns of a category count as one), in words with
    their log-odds contribution: ``debtor sector: construction (+0.42)``."""
    names, contributions = model.feature_contributions(frame)
    values = {name: frame[name].to_numpy() for name in names}
    out = []
    for row in range(len(frame)):
        order = np.argsort(-contributions[row], kind="stable")
        signals = [
            f"{describe(names[j], values[names[j]][row])} ({contributions[row, j]:+.2f})"
            for j in order
            if _signal(names[j], values[names[j]][row], contributions[row, j])
        ]
        out.append(signals[:top])
    return out


def score_applications(features: pd.DataFrame, model: RiskModel | None) -> pa.Table:
    """One row per application: ``score`` = probability that its riskiest invoice is paid late
    or defaults (features as of submission), with that invoice and the top reasons."""
    if features.empty:
        return SCORES_SCHEMA.empty_table()
    frame = features.reset_index(drop=True)
    if model is None:
        frame["score"] = np.nan
        frame["_reasons"] = [[NO_MODEL]] * len(frame)
    else:
        frame["score"] = model.predict(frame)
        frame["_reasons"] = reasons(model, frame)
    frame["invoices"] = frame.groupby("application_id")["invoice_id"].transform("count")
    # The riskiest invoice of each application (lowest id on ties; first if unscored).
    frame = frame.sort_values(
        ["application_id", "score", "invoice_id"], ascending=[True, False, True]
    )
    best = frame.drop_duplicates("application_id", keep="first")
    out = pd.DataFrame(
        {
            "application_id": best["application_id"].astype("int64"),
            "seller_id": best["seller_id"].astype("int64"),
            "submitted_at": best["as_of"],
            "status": best["application_status"],
            "invoices": best["invoices"].astype("int64"),
            "score": best["score"].astype(float),
            "riskiest_invoice_id": best["invoice_id"].astype("int64"),
        }
    )
    for i in range(TOP_REASONS):
        out[f"reason_{i + 1}"] = [r[i] if len(r) > i else None for r in best["_reasons"]]
    out["_open"] = out["status"] == "submitted"
    out["_key"] = np.where(out["_open"], -out["score"].fillna(-np.inf), 0.0)
    out["_age"] = np.where(out["_open"], 1, -1) * out["submitted_at"].astype("int64")
    out = out.sort_values(
        ["_open", "_key", "_age", "application_id"], ascending=[False] + [True] * 3
    )
    return pa.Table.from_pandas(
        out.drop(columns=["_open", "_key", "_age"]), schema=SCORES_SCHEMA, preserve_index=False
    )
