"""An explainable risk model: logistic regression on standardised features, kept as a table.

The trained model is a readable table, not a pickle: one row per input (``feature``,
``coefficient``, ``mean``, ``scale``) plus the ``(intercept)`` row. A score is

    p = sigmoid(intercept + sum of coefficient * clip((x - mean) / scale, -5, 5))

and each term is that input's *contribution* in log-odds, relative to an average invoice of
the training data: the largest positive ones are the reasons a score is high. Categorical
inputs are one-hot columns named ``<feature>=<value>`` (x = 1 when it matches).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from lakehouse.ml.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, meaning

LABEL = "bad"
INTERCEPT = "(intercept)"
Z_CLIP = 5.0
MIN_SUPPORT = 30
"""An input is used only if at least this many training rows differ from its most common
value: a near-constant input (no default seen yet) has no estimable effect, and its tiny
spread would blow up later values."""
MODEL_SCHEMA = pa.schema(
    [
        ("feature", pa.string()),
        ("coefficient", pa.float64()),
        ("mean", pa.float64()),
        ("scale", pa.float64()),
        ("description", pa.string()),
    ]
)


@dataclass(frozen=True)
class RiskModel:
    features: tuple[str, ...]
    coefficients: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    intercept: float

    # -- inputs -------------------------------------------------------------------------

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The raw model inputs of ``frame``'s rows (one-hot columns for categories)."""
        columns = []
        for feature in self.features:
            if "=" in feature:
                column, value = feature.split("=", 1)
                columns.append((frame[column].astype(str) == value).to_numpy(dtype=float))
            else:
                columns.append(frame[feature].to_numpy(dtype=float))
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def standardized(self, frame: pd.DataFrame) -> np.ndarray:
        """``(x - mean) / scale``, clipped to +-Z_CLIP (a value far outside the training range
        counts as an extreme one, not as an unbounded one)."""
        return np.clip((self.matrix(frame) - self.means) / self.scales, -Z_CLIP, Z_CLIP)

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """Each input's term in the log-odds, per row (n x inputs)."""
        return self.standardized(frame) * self.coefficients

    def feature_contributions(self, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        """Contributions summed per feature (a category's one-hot columns together):
        (feature names, n x features)."""
        names = list(dict.fromkeys(f.split("=", 1)[0] for f in self.features))
        index = {name: i for i, name in enumerate(names)}
        groups = np.zeros((len(self.features), len(names)))
        for j, feature in enumerate(self.features):
            groups[j, index[feature.split("=", 1)[0]]] = 1.0
        return names, self.contributions(frame) @ groups

    def logit(self, frame: pd.DataFrame) -> np.ndarray:
        return self.intercept + self.contributions(frame).sum(axis=1)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability that the invoice's trade is paid late or defaults."""
        return 1.0 / (1.0 + np.exp(-self.logit(frame)))

    # -- as a table ---------------------------------------------------------------------

    def to_table(self) -> pa.Table:
        rows = [
            {
                "feature": INTERCEPT,
                "coefficient": self.intercept,
                "mean": 0.0,
                "scale": 1.0,
                "description": "log-odds of an average invoice",
            }
        ]
        for feature, coef, mean, scale in zip(
            self.features, self.coefficients, self.means, self.scales, strict=True
        ):
            rows.append(
                {
                    "feature": feature,
                    "coefficient": float(coef),
                    "mean": float(mean),
                    "scale": float(scale),
                    "description": meaning(feature),
                }
            )
        return pa.Table.from_pylist(rows, schema=MODEL_SCHEMA)

    @classmethod
    def from_table(cls, table: pa.Table) -> "RiskModel | None":
        """The model a table holds; ``None`` for an empty table (no model trained yet)."""
        rows = table.to_pylist()
        if not rows:
            return None
        intercept = next(r["coefficient"] for r in rows if r["feature"] == INTERCEPT)
        inputs = [r for r in rows if r["feature"] != INTERCEPT]
        return cls(
            features=tuple(r["feature"] for r in inputs),
            coefficients=np.array([r["coefficient"] for r in inputs], dtype=float),
            means=np.array([r["mean"] for r in inputs], dtype=float),
            scales=np.array([r["scale"] for r in inputs], dtype=float),
            intercept=float(intercept),
        )


def empty_model_table() -> pa.Table:
    return MODEL_SCHEMA.empty_table()


def model_inputs(frame: pd.DataFrame, numeric=NUMERIC_FEATURES) -> tuple[str, ...]:
    """Numeric features plus one column per category seen in ``frame``."""
    categories = [
        f"{column}={value}"
        for column in CATEGORICAL_FEATURES
        for value in sorted(frame[column].astype(str).unique())
    ]
    return (*numeric, *categories)


def fit(frame: pd.DataFrame, inputs: tuple[str, ...] | None = None, c: float = 1.0) -> RiskModel:
    """Fit a logistic regression (L2, strength ``1/c``) on standardised inputs to ``bad``.

    Inputs with too little variation in ``frame`` (see :data:`MIN_SUPPORT`) are left out."""
    from sklearn.linear_model import LogisticRegression

    candidates = inputs if inputs is not None else model_inputs(frame)
    x = _unscaled(candidates).matrix(frame)
    keep = [j for j in range(len(candidates)) if _support(x[:, j]) >= MIN_SUPPORT]
    inputs = tuple(candidates[j] for j in keep)
    x = x[:, keep]
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales == 0] = 1.0
    y = frame[LABEL].to_numpy(dtype=bool)
    template = RiskModel(inputs, np.zeros(len(inputs)), means, scales, 0.0)
    regression = LogisticRegression(C=c, max_iter=1000).fit(template.standardized(frame), y)
    return RiskModel(
        features=inputs,
        coefficients=regression.coef_[0].astype(float),
        means=means,
        scales=scales,
        intercept=float(regression.intercept_[0]),
    )


def _unscaled(inputs: tuple[str, ...]) -> RiskModel:
    n = len(inputs)
    return RiskModel(inputs, np.zeros(n), np.zeros(n), np.ones(n), 0.0)


def _support(column: np.ndarray) -> int:
    """How many values differ from the most common one."""
    if not len(column):
        return 0
    _, counts = np.unique(column, return_counts=True)
    return int(len(column) - counts.max())
