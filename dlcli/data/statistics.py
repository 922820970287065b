"""What the model's preprocessing layers hold, computed from the training split only, in one place.

``of(dataset, config)`` gathers them: the numeric features' normalization
(``data.numeric: standard``: mean and variance after ``data.scale``, from the
in-memory training split or the streamed file's one checking pass; ``robust``:
median and interquartile range, for a smooth clip after), the fills for holes and the
categorical columns' vocabularies (``prepare`` and ``stream`` found them while
splitting), and the regression target's mean and std when ``data.scale_target``
is on. ``model.build`` only turns them into layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dlcli.data.features import numeric


@dataclass
class Statistics:
    """The training split's numbers that the model keeps inside it."""

    normalization: tuple[np.ndarray, np.ndarray] | None = None  # (centre, variance) per numeric input, float64
    fill: list[float] | None = None  # per numeric feature, for holes (data.missing: mean | median | zero)
    vocab: dict[str, list[str]] = field(default_factory=dict)  # categorical column -> categories, in index order
    target: tuple[float, float] | None = None  # (mean, std) of the target when it is scaled (data.scale_target)
    quantiles: tuple[np.ndarray, np.ndarray] | None = None  # (knots, normal scores), each (inputs, k): quantile


def of(dataset, config) -> Statistics:
    """The statistics of ``dataset``'s training split that ``config`` (resolved) asks the model to hold."""
    info = dataset.info
    normalization = quantiles = None
    if config.data.normalize and config.data.numeric == "quantile" and not dataset.streamed:
        quantiles = quantile_stats(dataset.x_train, config.data.scale)
    elif config.data.normalize:
        if dataset.streamed:  # the pass over the file found the raw values' moments; Rescaling runs first
            scale = config.data.scale
            mean, var = dataset.mean, dataset.var
            normalization = (mean, var) if scale is None else (mean * scale, var * scale**2)
        elif config.data.numeric == "robust":  # model.specs adds the smooth clip after the Normalization layer
            normalization = robust_stats(dataset.x_train, config.data.scale)
        else:
            normalization = normalization_stats(dataset.x_train, config.data.scale)
    target = info.target_stats if config.scales_target else None
    return Statistics(normalization, info.fill, info.vocab, target, quantiles)


def robust_stats(x_train: np.ndarray, scale: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (median, spread squared) of the (flattened, scaled) training split, for a ``Normalization``
    layer that computes (x - median) / spread, followed by a smooth clip (RealMLP's robust scaling).

    The spread is the interquartile range; where that is 0 (a feature mostly one value), half the range;
    where that is 0 too (a constant), 1: the feature is only centred.
    """
    flat = numeric(x_train)
    flat = flat.reshape(len(flat), -1).astype(np.float64)
    if scale is not None:
        flat = flat * scale
    if not len(flat) or not flat.shape[1]:  # no rows, or no numeric columns (numpy's percentiles lose the axis)
        zeros = np.zeros(flat.shape[1])
        return zeros, np.ones_like(zeros)
    low, median, high = np.nanpercentile(flat, [25, 50, 75], axis=0)
    spread = high - low
    half_range = (np.nanmax(flat, axis=0) - np.nanmin(flat, axis=0)) / 2
    spread = np.where(spread > 1e-12, spread, np.where(half_range > 1e-12, half_range, 1.0))
    return median, spread**2


def normalization_stats(x_train: np.ndarray, scale: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and variance of the (flattened, scaled) training split, in float64.

    A feature that never varies in training gets variance 1, so it is only
    centred: dividing by ~0 would blow up any other value it takes later.
    """
    x_train = numeric(x_train)
    flat = x_train.reshape(len(x_train), -1)
    # Accumulate in float64 without a float64 copy of the whole split.
    mean = flat.mean(axis=0, dtype=np.float64)
    var = np.zeros_like(mean)
    for start in range(0, len(flat), 65_536):
        block = flat[start : start + 65_536].astype(np.float64) - mean
        var += np.einsum("ij,ij->j", block, block)
    var /= max(len(flat), 1)
    if scale is not None:
        mean, var = mean * scale, var * scale**2
    var[var <= 1e-12] = 1.0
    return mean, var


def quantile_stats(x_train: np.ndarray, scale: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Per feature, knots (the training split's quantiles) and the standard normal's quantiles at the same
    probabilities, for a layer that maps a number to N(0, 1) piecewise linearly (Gorishniy et al. 2021's
    quantile transform, as scikit-learn's ``QuantileTransformer(output_distribution="normal")``).

    ``max(min(rows // 30, 256), 10)`` quantiles; a value held by many rows (a tie) gets one knot at its mean
    probability. Every feature gets the same number of knots, the last repeated (a flat end).
    """
    from scipy.special import ndtri

    flat = numeric(x_train)
    flat = flat.reshape(len(flat), -1).astype(np.float64)
    if scale is not None:
        flat = flat * scale
    k = max(min(len(flat) // 30, 256), 10)
    probabilities = np.linspace(0.0, 1.0, k)
    knots, scores = np.zeros((flat.shape[1], k)), np.zeros((flat.shape[1], k))
    for j in range(flat.shape[1]):
        column = flat[:, j][~np.isnan(flat[:, j])]
        if not len(column):
            continue
        at = np.quantile(column, probabilities)
        unique, where = np.unique(at, return_inverse=True)
        mean_p = np.bincount(where, weights=probabilities) / np.bincount(where)
        z = ndtri(np.clip(mean_p, 1e-7, 1 - 1e-7))
        if len(unique) == 1:  # a constant: 0 everywhere
            z = np.zeros(1)
        knots[j] = np.concatenate([unique, np.full(k - len(unique), unique[-1])])
        scores[j] = np.concatenate([z, np.full(k - len(z), z[-1])])
    return knots, scores
