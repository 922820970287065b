"""Reports of a run: per-class scores and the confusion matrix, and the plots in ``plots/``.

The scores are plain numpy (importing scikit-learn's metrics costs a second).
The plots read only the run directory (history.csv, metrics.json,
labels.json), so ``dlcli report RUN_DIR`` needs no TensorFlow; matplotlib is
imported, with the Agg backend, only when plotting.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from pathlib import Path

import numpy as np

from dlcli.errors import writing
from dlcli.runs import store

PLOTS = "plots"
CURVES = "learning_curves.png"
CONFUSION = "confusion_matrix.png"


def classification(y_true, y_pred, classes: list) -> dict:
    """Per-class precision, recall, F1 and support, their macro averages, and the confusion matrix.

    Rows of the matrix are true classes, columns predicted ones, both in
    ``classes`` order. A class never predicted has precision 0 (and never
    present, recall 0), as scikit-learn reports with ``zero_division=0``. The
    macro averages take the classes that occur in ``y_true`` or ``y_pred``, as
    scikit-learn's do: an output unit for a label absent from the data (kept
    in the matrix and ``per_class`` with support 0) does not pull them down.
    """
    k = len(classes)
    truth = np.asarray(y_true, dtype=np.int64).ravel()
    pred = np.asarray(y_pred, dtype=np.int64).ravel()
    matrix = np.bincount(truth * k + pred, minlength=k * k).reshape(k, k)
    hits = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    support = matrix.sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        recall = np.where(support > 0, hits / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    names = [str(c) for c in classes]
    seen = (support > 0) | (predicted > 0)
    return {
        "macro_precision": float(precision[seen].mean()),
        "macro_recall": float(recall[seen].mean()),
        "macro_f1": float(f1[seen].mean()),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(names)
        },
        "confusion_matrix": {
            "labels": names,
            "rows": "true class",
            "columns": "predicted class",
            "matrix": matrix.tolist(),
        },  # fmt: skip
    }


def read_history(path: Path) -> dict[str, list[float]]:
    """history.csv as {column: values}, without the epoch column."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return {}
    return {key: [float(r[key]) for r in rows] for key in rows[0] if key != "epoch"}


def write_plots(run_path: Path) -> list[Path]:
    """``plots/learning_curves.png`` and, for classification, ``plots/confusion_matrix.png``; returns the paths."""
    run_path = Path(run_path)
    history = read_history(run_path / store.HISTORY) if (run_path / store.HISTORY).exists() else {}
    metrics = store.read_json_if_present(run_path / store.METRICS, {})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = run_path / PLOTS
    with writing(folder):
        folder.mkdir(exist_ok=True)
    written = []
    if history:
        written.append(_save(plt, _curves(plt, history, run_path.name), folder / CURVES))
    matrix = metrics.get("confusion_matrix")
    if matrix:
        written.append(_save(plt, _confusion(plt, matrix, run_path.name), folder / CONFUSION))
    return written


def _save(plt, figure, path: Path) -> Path:
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    try:
        with writing(path):
            figure.savefig(tmp, dpi=110)
            os.replace(tmp, path)
    finally:
        plt.close(figure)
        with contextlib.suppress(OSError):
            tmp.unlink()
    return path


def _curves(plt, history: dict, title: str):
    """One panel per quantity (loss first), training solid and validation dashed, by epoch."""
    names = [k for k in history if not k.startswith("val_")]
    names.sort(key=lambda k: (k != "loss", k))
    cols = min(len(names), 3)
    rows = math.ceil(len(names) / cols)
    figure, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    epochs = np.arange(1, len(history[names[0]]) + 1)
    for ax, name in zip(axes.ravel(), names, strict=False):
        ax.plot(epochs, history[name], label="train", color="tab:blue")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], label="validation", color="tab:orange", linestyle="--")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        if name in ("loss", "learning_rate") and min(history[name]) > 0:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    figure.suptitle(f"{title}: learning curves")
    figure.tight_layout()
    return figure


def _confusion(plt, confusion: dict, title: str):
    """Counts with row-normalized shading (recall per true class), true classes down, predictions across."""
    matrix = np.asarray(confusion["matrix"], dtype=float)
    labels = confusion["labels"]
    k = len(labels)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(2.0 + 0.55 * k, 14)
    figure, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    tilt = max(len(str(label)) for label in labels) > 3
    ax.set_xticks(range(k), labels, rotation=45 if tilt else 0, ha="right" if tilt else "center")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if k <= 30:
        for i in range(k):
            for j in range(k):
                color = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center", color=color, fontsize=8)
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    heading = f"{title}\ntest split, accuracy {accuracy:.4f}"
    ax.set_title(heading, fontsize=_fitting_size(heading, size + 1.2))
    figure.tight_layout()
    return figure


def _fitting_size(text: str, inches: float, largest: float = 11.0) -> float:
    """A font size (points) at which the longest line of ``text`` fits in ``inches`` (a character is ~0.6 em wide)."""
    longest = max(len(line) for line in text.splitlines())
    return max(6.0, min(largest, 0.85 * inches * 72 / (0.6 * longest)))
