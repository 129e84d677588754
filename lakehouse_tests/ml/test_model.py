"""The risk model: the table is the model, reasons are its largest terms, the evaluation is
honest, and on the simulated platform it beats the baselines by a clear margin."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lakehouse.ml.evaluate import (
    NotEnoughHistory,
    reliability,
    time_split,
    train_and_evaluate,
)
from lakehouse.ml.features import build_features
from lakehouse.ml.model import INTERCEPT, RiskModel, fit, model_inputs
from lakehouse.ml.plot import evaluation_png, markdown_image, markdown_table
from lakehouse.ml.score import NO_MODEL, score_applications
from lakehouse_tests.ml.helpers import simulated_tables

SECTORS = ["retail", "construction", "utilities"]


def _synthetic(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Rows with the model's feature columns and a label drawn from a known logistic model."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount_log": rng.normal(9, 0.8, n),
            "tenor_days": rng.choice([30, 60, 90, 120], n).astype(float),
            "debtor_concentration": rng.uniform(0, 1, n),
            "seller_history_log": rng.uniform(0, 5, n),
            "seller_late_rate": rng.uniform(0.1, 0.5, n),
            "seller_defaults": rng.integers(0, 4, n).astype(float),
            "seller_overdue": rng.integers(0, 6, n).astype(float),
            "debtor_late_rate": rng.uniform(0.1, 0.5, n),
            "debtor_defaults": rng.integers(0, 4, n).astype(float),
            "debtor_overdue": rng.integers(0, 6, n).astype(float),
            "debtor_sector": rng.choice(SECTORS, n),
        }
    )
    logit = -2 + 0.02 * (frame["tenor_days"] - 60) + 0.8 * frame["seller_defaults"]
    logit += np.where(frame["debtor_sector"] == "construction", 1.0, 0.0)
    frame["bad"] = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    return frame


def test_the_model_table_scores_exactly_like_scikit_learn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    frame = _synthetic()
    model = RiskModel.from_table(fit(frame).to_table())  # through its table only
    inputs = model_inputs(frame)
    raw = np.column_stack(
        [
            (frame[c.split("=")[0]] == c.split("=")[1]).astype(float) if "=" in c else frame[c]
            for c in inputs
        ]
    )
    scaled = StandardScaler().fit_transform(raw)
    reference = LogisticRegression(C=1.0, max_iter=1000).fit(scaled, frame["bad"])
    assert model.features == inputs
    np.testing.assert_allclose(
        model.predict(frame), reference.predict_proba(scaled)[:, 1], rtol=1e-6
    )
    # It learnt the generating model: the drivers have the largest coefficients.
    table = fit(frame).to_table().to_pandas().set_index("feature")
    assert table.loc[INTERCEPT, "scale"] == 1.0
    top = table.drop(INTERCEPT)["coefficient"].sort_values().index[-3:]
    assert set(top) == {"seller_defaults", "tenor_days", "debtor_sector=construction"}


def test_reasons_are_the_largest_positive_contributions_in_words():
    model = RiskModel(
        features=("tenor_days", "seller_defaults", "debtor_sector=construction",
                  "debtor_sector=retail"),
        coefficients=np.array([0.6, 0.9, 0.4, -0.2]),
        means=np.array([60.0, 0.5, 0.25, 0.5]),
        scales=np.array([30.0, 1.0, 0.5, 0.5]),
        intercept=-1.0,
    )  # fmt: skip
    features = pd.DataFrame(
        {
            "invoice_id": [1, 2, 3],
            "application_id": [7, 7, 8],
            "seller_id": [5, 5, 6],
            "as_of": pd.to_datetime(["2026-03-01 10:00"] * 2 + ["2026-03-02 10:00"]),
            "application_status": ["submitted", "submitted", "approved"],
            "tenor_days": [120.0, 30.0, 60.0],
            "seller_defaults": [2.0, 2.0, 0.0],
            "debtor_sector": ["construction", "retail", "retail"],
        }
    )
    scores = score_applications(features, model).to_pylist()
    # Invoice 1: tenor (120-60)/30*0.6 = +1.2, defaults (2-0.5)*0.9 = +1.35,
    # sector construction: (1-0.25)/0.5*0.4 + (0-0.5)/0.5*-0.2 = +0.6 + 0.2 = +0.8.
    logit_1 = -1.0 + 1.2 + 1.35 + 0.8
    # Invoice 2: tenor -0.6, defaults +1.35, sector retail: (0-.25)/.5*.4 + (1-.5)/.5*-.2 = -0.4
    logit_2 = -1.0 - 0.6 + 1.35 - 0.4
    assert scores[0] == {
        "application_id": 7,
        "seller_id": 5,
        "submitted_at": dt.datetime(2026, 3, 1, 10),
        "status": "submitted",
        "invoices": 2,
        "score": pytest.approx(1 / (1 + np.exp(-logit_1))),
        "riskiest_invoice_id": 1,
        "reason_1": "seller had 2 default(s) (+1.35)",
        "reason_2": "payment terms of 120 days (+1.20)",
        "reason_3": "debtor sector: construction (+0.80)",
    }
    assert logit_2 < logit_1
    # Invoice 3: tenor 0, defaults -0.45, retail -0.4: no positive term, no reason.
    assert scores[1]["riskiest_invoice_id"] == 3
    assert [scores[1][f"reason_{i}"] for i in (1, 2, 3)] == [None, None, None]


def test_open_queue_first_riskiest_first_and_reasons_without_signal_dropped():
    # A model that learnt "a low late rate is risky" (a confounder): a 0% late rate gives a
    # positive contribution that must not read as a reason; nor must a contribution of +0.03.
    model = RiskModel(
        features=("seller_late_rate", "seller_defaults", "tenor_days"),
        coefficients=np.array([-0.5, 0.9, 0.03]),
        means=np.array([0.2, 0.5, 60.0]),
        scales=np.array([0.1, 1.0, 30.0]),
        intercept=-1.0,
    )
    features = pd.DataFrame(
        {
            "invoice_id": [1, 2, 3, 4],
            "application_id": [10, 11, 12, 13],
            "seller_id": [5, 6, 7, 8],
            "as_of": pd.to_datetime(
                ["2026-03-01 09:00", "2026-03-02 09:00", "2026-03-03 09:00", "2026-03-04 09:00"]
            ),
            "application_status": ["approved", "submitted", "submitted", "declined"],
            "seller_late_rate": [0.2, 0.004, 0.2, 0.2],
            "seller_defaults": [3.0, 2.0, 0.5, 0.5],
            "tenor_days": [60.0, 120.0, 60.0, 60.0],
        }
    )
    scores = score_applications(features, model).to_pylist()
    # Open: 11: late (0.004-0.2)/0.1*-0.5 = +0.98, defaults 1.5*0.9 = +1.35, tenor 2*0.03 = +0.06
    # -> logit 1.39; 12: all terms 0 -> logit -1. Decided: 13 (newer) before 10.
    assert [s["application_id"] for s in scores] == [11, 12, 13, 10]
    assert [scores[0][f"reason_{i}"] for i in (1, 2, 3)] == [
        "seller had 2 default(s) (+1.35)",
        "payment terms of 120 days (+0.06)",
        None,  # "seller's past trades late or defaulted: 0% (+0.98)" carries no signal
    ]
    assert scores[1]["reason_1"] is None


def test_without_a_model_every_application_is_listed_unscored():
    features = pd.DataFrame(
        {
            "invoice_id": [1, 2],
            "application_id": [7, 8],
            "seller_id": [5, 6],
            "as_of": pd.to_datetime(["2026-03-01", "2026-03-02"]),
            "application_status": ["submitted", "submitted"],
        }
    )
    scores = score_applications(features, None).to_pylist()
    assert [s["application_id"] for s in scores] == [7, 8]
    assert all(s["score"] is None and s["reason_1"] == NO_MODEL for s in scores)


def test_reliability_bins_by_hand():
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.9])
    y = np.array([0, 0, 1, 0, 1, 1])
    bins = reliability(y, p, bins=3)
    assert bins.to_dict("list") == {
        "bin": [1, 2, 3],
        "predicted": pytest.approx([0.15, 0.35, 0.75]),
        "observed": [0.0, 0.5, 1.0],
        "n": [2, 2, 2],
    }


def test_the_holdout_is_the_latest_resolved_weeks_and_training_is_older():
    start = pd.Timestamp("2026-01-01")
    rows = []
    for day in range(300):
        as_of = start + pd.Timedelta(days=day)
        known = day < 160 or day == 170  # day 160 is the first with an unresolved trade
        rows.append(
            {
                "as_of": as_of,
                "label_known_at": as_of + pd.Timedelta(days=40),
                "bad": bool(day % 3 == 0) if known else None,
                "trade_id": day,
                "invoice_status": "funded",
            }
        )
    rows.append({**rows[10], "trade_id": None, "invoice_status": "rejected", "bad": None})
    train, holdout, split = time_split(pd.DataFrame(rows), holdout_weeks=4)
    assert split == (start + pd.Timedelta(days=160 - 28)).to_pydatetime()
    assert sorted((holdout["as_of"] - start).dt.days) == list(range(132, 160))
    assert sorted((train["as_of"] - start).dt.days) == list(range(132))
    # A short history (29 days, all resolved): the holdout is its last third.
    _, short, split = time_split(pd.DataFrame(rows[:30]), holdout_weeks=8)
    assert sorted((short["as_of"] - start).dt.days) == list(range(20, 30))
    assert split == (start + pd.Timedelta(days=29, microseconds=1) * 2 / 3).to_pydatetime()
    with pytest.raises(NotEnoughHistory):
        train_and_evaluate(pd.DataFrame(rows))  # under 200 labelled training rows


@pytest.fixture(scope="module", params=[7, 3])
def simulated_year(request, tmp_path_factory):
    tables = simulated_tables(tmp_path_factory.mktemp("sim") / "p.sqlite", 365, request.param)
    return build_features(**tables).to_pandas()


def test_the_model_beats_the_baselines_on_a_time_based_holdout(simulated_year):
    """Measured over 365 days, seeds 1, 2, 3, 7, 11: holdout AUC 0.70-0.74, best single
    feature 0.64-0.67, Brier skill 0.15-0.19, ECE 0.017-0.028, calibration slope 0.90-1.08
    (docs/risk-model.md). The thresholds leave a margin below the worst seed."""
    training = train_and_evaluate(simulated_year)
    ev = training.evaluation
    assert ev.n_holdout > 1500 and ev.n_train > 4000
    assert ev.holdout_end < ev.split_at + dt.timedelta(weeks=8)
    assert ev.auc >= 0.65  # base rate: 0.5
    assert ev.auc >= ev.single_feature_auc + 0.03
    assert ev.brier_skill >= 0.08 and ev.single_feature_brier > ev.brier
    assert ev.ece <= 0.06 and 0.7 <= ev.calibration_slope <= 1.3
    # The kept model learnt the documented signal: terms, concentration, seller's defaults.
    coefficients = dict(zip(training.model.features, training.model.coefficients, strict=True))
    for driver in ("tenor_days", "debtor_concentration", "seller_defaults", "debtor_late_rate"):
        assert coefficients[driver] > 0.1, driver
    assert coefficients["debtor_sector=construction"] > coefficients["debtor_sector=public_sector"]

    # The evaluation as people see it in the UI: a PNG inline in Markdown, and tables.
    png = evaluation_png(ev)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert markdown_image(png, "eval").startswith("![eval](data:image/png;base64,iVBORw0KGgo")
    table = markdown_table(ev.reliability).splitlines()
    assert table[0] == "| bin | predicted | observed | n |" and len(table) == 12
