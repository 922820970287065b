"""Figures of the HTML report as PNG bytes: ROC and precision-recall curves, residuals, target distribution.

Curves are computed with numpy (scikit-learn's metrics cost a second to
import). matplotlib is imported, with the Agg backend, by ``pyplot()``.
"""

from __future__ import annotations

import io

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(plt, figure) -> bytes:
    """The figure as PNG bytes; closes it."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(figure)
    return buffer.getvalue()


def roc_curve(y_true, score) -> tuple[np.ndarray, np.ndarray, float]:
    """False and true positive rates at every distinct threshold (from (0, 0)), and the area under them."""
    truth, score = _sorted(y_true, score)
    tp, fp = _counts(truth, score)
    positives, negatives = max(tp[-1], 1), max(fp[-1], 1)
    fpr = np.concatenate([[0.0], fp / negatives])
    tpr = np.concatenate([[0.0], tp / positives])
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def precision_recall_curve(y_true, score) -> tuple[np.ndarray, np.ndarray, float]:
    """Recall and precision at every distinct threshold, and the average precision (sum of precision x recall step)."""
    truth, score = _sorted(y_true, score)
    tp, fp = _counts(truth, score)
    recall = tp / max(tp[-1], 1)
    precision = tp / np.maximum(tp + fp, 1)
    steps = np.diff(np.concatenate([[0.0], recall]))
    return recall, precision, float(np.sum(steps * precision))


def _sorted(y_true, score):
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    return np.asarray(y_true).reshape(-1)[order] == 1, np.asarray(score, dtype=np.float64)[order]


def _counts(truth: np.ndarray, score: np.ndarray):
    """Cumulative true and false positives at the last row of each distinct score (ties move together)."""
    last = np.r_[np.nonzero(np.diff(score))[0], len(score) - 1]
    tp = np.cumsum(truth)[last].astype(np.float64)
    fp = (last + 1 - tp).astype(np.float64)
    return tp, fp


def roc_figure(plt, y_true, score, positive: str):
    fpr, tpr, area = roc_curve(y_true, score)
    figure, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot(fpr, tpr, color="tab:blue", label=f"AUC {area:.4f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC, positive class {positive!r}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    return figure


def precision_recall_figure(plt, y_true, score, positive: str):
    recall, precision, average = precision_recall_curve(y_true, score)
    base = float(np.mean(np.asarray(y_true).reshape(-1) == 1))
    figure, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.step(recall, precision, where="post", color="tab:blue", label=f"average precision {average:.4f}")
    ax.axhline(base, color="grey", linestyle=":", label=f"share of positives {base:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"precision-recall, positive class {positive!r}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    return figure


def residual_figure(plt, y_true, predicted):
    """Predicted vs true (with the diagonal) and residuals vs predicted, side by side."""
    truth = np.asarray(y_true, dtype=np.float64).reshape(-1)
    pred = np.asarray(predicted, dtype=np.float64).reshape(-1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(9.2, 4.0))
    left.scatter(truth, pred, s=10, alpha=0.6)
    low, high = float(min(truth.min(), pred.min())), float(max(truth.max(), pred.max()))
    left.plot([low, high], [low, high], color="grey", linestyle=":")
    left.set_xlabel("true value")
    left.set_ylabel("predicted value")
    left.set_title("predicted vs true (test split)", fontsize=10)
    right.scatter(pred, pred - truth, s=10, alpha=0.6, color="tab:orange")
    right.axhline(0, color="grey", linestyle=":")
    right.set_xlabel("predicted value")
    right.set_ylabel("residual (predicted - true)")
    right.set_title("residuals (test split)", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def distribution_figure(plt, values, title: str):
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    figure, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.hist(values, bins=min(30, max(5, len(values) // 5)), color="tab:blue", alpha=0.8)
    ax.set_xlabel("target value")
    ax.set_ylabel("rows")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def importance_figure(plt, names: list[str], drops: list[float], stds: list[float], metric: str):
    """Horizontal bars of the drop in ``metric`` per shuffled feature, the largest on top."""
    figure, axes = plt.subplots(figsize=(6.4, 0.3 * len(names) + 1.2))
    at = np.arange(len(names))[::-1]
    axes.barh(at, drops, xerr=stds, color="#4c72b0")
    axes.set_yticks(at, labels=names)
    axes.axvline(0, color="#888", linewidth=0.8)
    axes.set_xlabel(f"drop in {metric} when shuffled")
    figure.tight_layout()
    return figure
