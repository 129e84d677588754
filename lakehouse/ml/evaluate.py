"""Training with an honest, time-based evaluation.

Backtest: the holdout is the invoices submitted in the last ``holdout_weeks`` weeks (at most a
third of the history) of fully resolved history: before its end every funded invoice's outcome
is known, so the holdout is not biased towards short payment terms. The model is trained on
the invoices submitted before the holdout (older applications only; features are point-in-time
either way), then scored on the holdout. Reported: ROC AUC, Brier score, log loss, reliability
bins (predicted vs observed rate in deciles of the score), expected calibration error and
calibration slope/intercept; against two baselines: the training base rate for everyone (AUC
0.5) and the best single-feature model. The model that is kept is then refitted on every
labelled invoice.
"""

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lakehouse.ml.features import NUMERIC_FEATURES
from lakehouse.ml.model import LABEL, RiskModel, fit

MIN_LABELLED = 200
"""Fewer labelled invoices than this (or only one outcome seen): no model is trained."""


class NotEnoughHistory(Exception):
    """Too few invoices with a known outcome to train or evaluate a model."""


@dataclass
class Evaluation:
    split_at: dt.datetime
    holdout_end: dt.datetime
    n_train: int
    n_holdout: int
    base_rate_train: float
    base_rate_holdout: float
    auc: float
    brier: float
    log_loss: float
    prior_brier: float
    prior_log_loss: float
    single_feature: str
    single_feature_auc: float
    single_feature_brier: float
    ece: float
    calibration_slope: float
    calibration_intercept: float
    reliability: pd.DataFrame  # bin, predicted, observed, n
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)

    @property
    def brier_skill(self) -> float:
        """1 - Brier / Brier of the base-rate forecast: the share of its error removed."""
        return 1.0 - self.brier / self.prior_brier if self.prior_brier else 0.0

    def figures(self) -> dict[str, float | int | str]:
        return {
            "holdout_auc": round(self.auc, 4),
            "holdout_brier": round(self.brier, 4),
            "holdout_log_loss": round(self.log_loss, 4),
            "brier_skill_vs_base_rate": round(self.brier_skill, 4),
            "base_rate_brier": round(self.prior_brier, 4),
            "base_rate_log_loss": round(self.prior_log_loss, 4),
            f"single_feature_auc ({self.single_feature})": round(self.single_feature_auc, 4),
            "expected_calibration_error": round(self.ece, 4),
            "calibration_slope": round(self.calibration_slope, 3),
            "calibration_intercept": round(self.calibration_intercept, 3),
            "n_train": self.n_train,
            "n_holdout": self.n_holdout,
            "base_rate_train": round(self.base_rate_train, 4),
            "base_rate_holdout": round(self.base_rate_holdout, 4),
            "holdout": f"{self.split_at:%Y-%m-%d} .. {self.holdout_end:%Y-%m-%d}",
        }


@dataclass
class Training:
    model: RiskModel
    evaluation: Evaluation
    n_labelled: int


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[frame[LABEL].notna()].copy()
    out[LABEL] = out[LABEL].astype(bool)
    return out


def matured_until(frame: pd.DataFrame) -> pd.Timestamp:
    """The first submission whose invoices are not all resolved yet: before it, every funded
    invoice's outcome is known, so a holdout there is not biased towards short terms."""
    unresolved = (frame["trade_id"].notna() & frame[LABEL].isna()) | (
        frame["invoice_status"] == "uploaded"
    )
    if unresolved.any():
        return frame.loc[unresolved, "as_of"].min()
    return frame["as_of"].max() + pd.Timedelta(microseconds=1)


def time_split(
    frame: pd.DataFrame, holdout_weeks: int
) -> tuple[pd.DataFrame, pd.DataFrame, dt.datetime]:
    """(train, holdout, split instant): the holdout is the labelled invoices submitted in the
    ``holdout_weeks`` weeks (a third of the history, if that is shorter) before
    :func:`matured_until`; training, the labelled invoices submitted before it."""
    data = labelled(frame)
    if data.empty:
        raise NotEnoughHistory("no invoice has a known outcome yet")
    end = matured_until(frame)
    length = min(pd.Timedelta(weeks=holdout_weeks), (end - data["as_of"].min()) / 3)
    split = end - length
    train = data[data["as_of"] < split]
    holdout = data[(data["as_of"] >= split) & (data["as_of"] < end)]
    return train, holdout, split.to_pydatetime()


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Predicted vs observed rate in ``bins`` equal-count bins of the score."""
    order = np.argsort(p, kind="stable")
    rows = []
    for i, idx in enumerate(np.array_split(order, bins)):
        if len(idx):
            rows.append(
                {
                    "bin": i + 1,
                    "predicted": float(p[idx].mean()),
                    "observed": float(y[idx].mean()),
                    "n": len(idx),
                }
            )
    return pd.DataFrame(rows, columns=["bin", "predicted", "observed", "n"])


def evaluate(
    train: pd.DataFrame, holdout: pd.DataFrame, split_at: dt.datetime, c: float = 1.0
) -> Evaluation:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve

    _require(train, "training")
    _require(holdout, "holdout")
    model = fit(train, c=c)
    y = holdout[LABEL].to_numpy(dtype=bool)
    p = model.predict(holdout)
    prior = float(train[LABEL].mean())
    prior_p = np.full(len(y), prior)

    # The strongest single input on the training data, as a one-feature model.
    train_y = train[LABEL].to_numpy(dtype=bool)
    best = max(
        NUMERIC_FEATURES,
        key=lambda f: abs(roc_auc_score(train_y, train[f].to_numpy(dtype=float)) - 0.5),
    )
    single = fit(train, inputs=(best,), c=c)
    single_p = single.predict(holdout)

    bins = reliability(y, p)
    ece = float((bins["n"] * (bins["observed"] - bins["predicted"]).abs()).sum() / len(y))
    logit = np.log(p / (1 - p)).reshape(-1, 1)
    recalibration = LogisticRegression(C=1e6, max_iter=1000).fit(logit, y)
    fpr, tpr, _ = roc_curve(y, p)
    sfpr, stpr, _ = roc_curve(y, single_p)
    return Evaluation(
        split_at=split_at,
        holdout_end=holdout["as_of"].max().to_pydatetime(),
        n_train=len(train),
        n_holdout=len(holdout),
        base_rate_train=prior,
        base_rate_holdout=float(y.mean()),
        auc=float(roc_auc_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        log_loss=float(log_loss(y, p, labels=[False, True])),
        prior_brier=float(brier_score_loss(y, prior_p)),
        prior_log_loss=float(log_loss(y, prior_p, labels=[False, True])),
        single_feature=best,
        single_feature_auc=float(roc_auc_score(y, single_p)),
        single_feature_brier=float(brier_score_loss(y, single_p)),
        ece=ece,
        calibration_slope=float(recalibration.coef_[0][0]),
        calibration_intercept=float(recalibration.intercept_[0]),
        reliability=bins,
        roc={"model": (fpr, tpr), f"single feature: {best}": (sfpr, stpr)},
    )


def train_and_evaluate(frame: pd.DataFrame, holdout_weeks: int = 8, c: float = 1.0) -> Training:
    """Backtest on a time-based holdout, then fit the kept model on every labelled invoice."""
    train, holdout, split = time_split(frame, holdout_weeks)
    evaluation = evaluate(train, holdout, split, c=c)
    everything = labelled(frame)
    return Training(model=fit(everything, c=c), evaluation=evaluation, n_labelled=len(everything))


def _require(frame: pd.DataFrame, what: str) -> None:
    outcomes = frame[LABEL].nunique() if len(frame) else 0
    if len(frame) < MIN_LABELLED or outcomes < 2:
        raise NotEnoughHistory(
            f"{len(frame)} {what} invoices with a known outcome ({outcomes} distinct "
            f"outcome(s)); at least {MIN_LABELLED} with both outcomes are needed"
        )
