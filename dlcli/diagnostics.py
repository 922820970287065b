"""Training diagnostics read from a run's history and test metrics: plain functions, no TensorFlow.

Each check looks at one thing and returns a :class:`Finding` or ``None``:
still improving at the last epoch, validation loss rising since some epoch,
diverged, and class imbalance. ``diagnose`` runs them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# A loss counts as still improving when its last epoch took off more than this share of it.
STILL_IMPROVING = 0.01
# Validation loss counts as rising when its last value is this share above its best one.
RISING = 0.05
# Classes count as imbalanced when the largest has this many times the rows of the smallest.
IMBALANCE = 3.0


@dataclass(frozen=True)
class Finding:
    """One diagnostic: a short name, what was seen, and what to try."""

    kind: str
    seen: str
    advice: str


def still_improving(history: dict[str, list[float]]) -> Finding | None:
    """The monitored loss (validation if recorded) is at its best at the last epoch, which took off more than
    ``STILL_IMPROVING`` of it."""
    name = "val_loss" if history.get("val_loss") else "loss"
    values = history.get(name) or []
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        return None
    before, last = values[-2], values[-1]
    if last > min(values) or before <= 0:
        return None
    drop = (before - last) / before
    if drop <= STILL_IMPROVING:
        return None
    return Finding(
        "still improving",
        f"{name} is at its lowest at the last epoch ({len(values)}), {drop:.1%} below the epoch before",
        "train for more epochs (training.epochs), with early stopping to end it when it levels off",
    )


def validation_rising(history: dict[str, list[float]]) -> Finding | None:
    """Validation loss has risen since its best epoch k (before the last) by more than ``RISING``."""
    values = history.get("val_loss") or []
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 3 or len(finite) < len(values):
        return None
    best = min(range(len(values)), key=values.__getitem__)
    if best == len(values) - 1 or values[-1] <= values[best] * (1 + RISING) or values[best] < 0:
        return None
    train = history.get("loss") or []
    falling = len(train) == len(values) and train[-1] < train[best]
    seen = f"val_loss has risen since epoch {best + 1} ({values[best]:.4g} -> {values[-1]:.4g})"
    if falling:
        seen += " while the training loss kept falling (overfitting)"
    return Finding(
        "validation loss rising",
        seen,
        "stop earlier (training.early_stopping with restore_best_weights) or regularise (dropout, fewer units, "
        "more data)",
    )


def diverged(history: dict[str, list[float]]) -> Finding | None:
    """The training loss became NaN or infinite, or ended above twice its first value."""
    values = history.get("loss") or []
    if not values:
        return None
    bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
    if bad is not None:
        seen = f"the training loss became {values[bad]} at epoch {bad + 1}"
    elif len(values) >= 2 and values[0] > 0 and values[-1] > 2 * values[0]:
        seen = f"the training loss grew from {values[0]:.4g} (epoch 1) to {values[-1]:.4g} (epoch {len(values)})"
    else:
        return None
    return Finding(
        "diverged",
        seen,
        "lower the learning rate (optimizer.learning_rate), normalise the inputs (data.normalize), or clip gradients",
    )


def class_imbalance(support: dict[str, int], split: str = "test") -> Finding | None:
    """The largest class has at least ``IMBALANCE`` times the rows of the smallest (present) one."""
    counts = {name: n for name, n in support.items() if n > 0}
    if len(counts) < 2:
        return None
    big = max(counts, key=counts.__getitem__)
    small = min(counts, key=counts.__getitem__)
    ratio = counts[big] / counts[small]
    if ratio < IMBALANCE:
        return None
    return Finding(
        "class imbalance",
        f"in the {split} split, class {big!r} has {counts[big]} rows and {small!r} {counts[small]} ({ratio:.1f}x)",
        "weight the classes (training.class_weight: balanced) and judge by macro F1 or per-class recall, not accuracy",
    )


def diagnose(history: dict[str, list[float]], metrics: dict) -> list[Finding]:
    """Every finding for a run's history and test metrics (its per-class support gives the class balance)."""
    support = {name: row.get("support", 0) for name, row in (metrics.get("per_class") or {}).items()}
    found = [diverged(history), still_improving(history), validation_rising(history), class_imbalance(support)]
    return [f for f in found if f is not None]
