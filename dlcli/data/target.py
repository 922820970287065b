"""A regression target's spread and centre, for ``data.scale_target``.

``Moments`` accumulates count, sum and sum of squares (shifted by the first
value, so big values near each other keep their precision) in one pass: the
CSV probe and the streaming pass feed it cell by cell or chunk by chunk, the
in-memory path the whole array. ``spread`` (population std over every
non-missing target value of the data file) decides ``auto`` alike in
``validate`` and ``train``; ``stats`` (the training split's mean and std) are
the numbers of the model's ``target_scale`` layer.
"""

from __future__ import annotations

import numpy as np


class Moments:
    """Running count, mean and population std of numbers seen one at a time or in arrays."""

    def __init__(self) -> None:
        self.count = 0
        self.shift: float | None = None
        self.total = 0.0
        self.total_sq = 0.0

    def add(self, value: float) -> None:
        """One number (NaN and inf are skipped)."""
        if not np.isfinite(value):
            return
        if self.shift is None:
            self.shift = float(value)
        d = value - self.shift
        self.count += 1
        self.total += d
        self.total_sq += d * d

    def add_array(self, values) -> Moments:
        """Every finite number of ``values``; returns self."""
        values = np.asarray(values, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if len(values):
            if self.shift is None:
                self.shift = float(values[0])
            d = values - self.shift
            self.count += len(values)
            self.total += float(d.sum())
            self.total_sq += float(np.dot(d, d))
        return self

    @property
    def mean(self) -> float | None:
        return None if not self.count else self.shift + self.total / self.count

    @property
    def std(self) -> float | None:
        if not self.count:
            return None
        centred = self.total / self.count
        return float(np.sqrt(max(self.total_sq / self.count - centred * centred, 0.0)))


def spread(values) -> float | None:
    """Population std of the finite numbers in ``values`` (None when there are none or they are not numbers)."""
    values = np.asarray(values)
    if values.dtype.kind not in "iuf":
        return None
    return Moments().add_array(values).std


def stats(moments: Moments) -> tuple[float, float] | None:
    """(mean, std) for the ``target_scale`` layer: a std of 0 becomes 1, so the layer only shifts."""
    if not moments.count:
        return None
    std = moments.std
    return float(moments.mean), float(std if std > 0 else 1.0)


def facts(task: str, whole, train) -> dict:
    """``DataInfo``'s ``target_spread`` (from ``whole``: every target value of the data file) and ``target_stats``
    (from ``train``: the training split's), each an array or ``Moments``; nothing for classes."""
    if task != "regression":
        return {}
    whole, train = (m if isinstance(m, Moments) else Moments().add_array(m) for m in (whole, train))
    return {"target_spread": whole.std, "target_stats": stats(train)}


def record(config, info) -> dict | None:
    """What environment.json records of ``data.scale_target`` (a resolved config): the layer's numbers and why,
    or None when the target is not scaled."""
    if not config.scales_target:
        return None
    mean, std = info.target_stats
    return {"mean": mean, "std": std, "reason": config.scale_target_reason}


def announcement(config, info) -> str:
    """The line ``train`` logs when the target is scaled."""
    mean, std = info.target_stats
    return (
        f"target scaling on ({config.scale_target_reason}): the network learns (y - {mean:.6g}) / {std:.6g} and "
        "its last layer scales back to the target's units; data.scale_target: false turns it off"
    )
