"""Risk models, pure and tested without Dagster: point-in-time features (features), an
explainable logistic regression kept as a table (model), time-based evaluation (evaluate),
scores with reasons (score) and the evaluation plot (plot). See docs/risk-model.md."""
