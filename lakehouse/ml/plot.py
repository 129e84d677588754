"""The evaluation as a picture: ROC curves and a reliability diagram, as PNG bytes.

Dagster's UI renders Markdown metadata and allows ``data:`` image sources, so
:func:`markdown_image` puts the PNG inline in an asset's metadata, viewable in the UI.
"""

import base64
import io

from lakehouse.ml.evaluate import Evaluation


def evaluation_png(evaluation: Evaluation, dpi: int = 80) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in any process
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.4), dpi=dpi)
    roc, calibration = figure.subplots(1, 2)

    for label, (fpr, tpr) in evaluation.roc.items():
        auc = evaluation.auc if label == "model" else evaluation.single_feature_auc
        roc.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
    roc.plot([0, 1], [0, 1], linestyle=":", color="grey", label="base rate (AUC 0.5)")
    roc.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title=f"ROC on the holdout (n = {evaluation.n_holdout})",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    roc.legend(loc="lower right", fontsize="small")

    bins = evaluation.reliability
    top = max(1.0, float(bins[["predicted", "observed"]].max().max()) * 1.05) if len(bins) else 1
    calibration.plot([0, top], [0, top], linestyle=":", color="grey", label="perfect")
    calibration.plot(bins["predicted"], bins["observed"], marker="o", label="model, deciles")
    calibration.axhline(
        evaluation.base_rate_holdout, color="tab:red", linewidth=0.8, label="holdout base rate"
    )
    calibration.set(
        xlabel="predicted probability (late or default)",
        ylabel="observed rate",
        title=(
            f"Calibration: Brier {evaluation.brier:.3f} (base rate {evaluation.prior_brier:.3f}),"
            f" ECE {evaluation.ece:.3f}"
        ),
        xlim=(0, top),
        ylim=(0, top),
    )
    calibration.title.set_fontsize("medium")
    calibration.legend(loc="upper left", fontsize="small")

    figure.suptitle(
        f"Holdout {evaluation.split_at:%Y-%m-%d} .. {evaluation.holdout_end:%Y-%m-%d}, "
        f"trained on {evaluation.n_train} invoices with outcomes known before it"
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def markdown_image(png: bytes, alt: str = "plot") -> str:
    """Markdown showing ``png`` inline (a base64 ``data:`` URI)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def markdown_table(frame, digits: int = 4) -> str:
    """A DataFrame as a Markdown table (numbers rounded), for asset metadata."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(f"{v:.{digits}g}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])
