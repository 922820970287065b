"""Seeded train / validation / test splits: in memory (stratified by class), and for streamed rows by a hash.

In memory, ``split`` draws the held-out rows with a seeded permutation,
stratified for classes. A streamed file cannot be permuted, so each row goes
to a split by a seeded hash of its row number (``split_codes``), computed the
same way in numpy (the checking pass) and in TensorFlow (``split_codes_tf``,
the training stream).
"""

from __future__ import annotations

import numpy as np

from dlcli.data.features import take
from dlcli.errors import DataError
from dlcli.log import warn

HASH_MULT = 2654435761
HASH_MOD = 1 << 32


def split_index(y, fraction: float, seed: int, stratify: bool) -> tuple[np.ndarray, np.ndarray]:
    """(kept rows, held-out rows), each in file order: a seeded shuffle, stratified by class when asked.

    Stratified, every class gives its share of ``ceil(fraction * rows)``
    held-out rows (floors, then the largest remainders); which of its rows go
    is a seeded random choice. Plain numpy: importing scikit-learn's splitter
    alone costs over a second, more than the split of a million rows.
    """
    rows = len(y)
    n_out = int(np.ceil(fraction * rows))
    order = np.random.default_rng(seed).permutation(rows)
    if stratify:
        order = order[np.argsort(y[order], kind="stable")]  # grouped by class, random within each
        counts = np.bincount(y)
        ideal = counts * (n_out / rows)
        share = np.floor(ideal).astype(np.int64)
        short = n_out - int(share.sum())
        share[np.argsort(-(ideal - share), kind="stable")[:short]] += 1
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        picked = np.concatenate([order[a : a + k] for a, k in zip(starts, share, strict=True)])
    else:
        picked = order[:n_out]
    held = np.zeros(rows, dtype=bool)
    held[picked] = True
    return np.flatnonzero(~held), np.flatnonzero(held)


def split_rows(y, fraction: float, seed: int, stratify: bool, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(kept rows, held-out rows) of ``split``, its size and stratification checked."""
    rows = len(y)
    n_out = int(np.ceil(fraction * rows))
    if n_out < 1 or rows - n_out < 1:
        raise DataError(
            f"{what}: {rows} rows cannot be split {1 - fraction:.0%}/{fraction:.0%}; more data or another split"
        )
    if stratify:
        counts = np.bincount(y)
        n_classes = int(np.count_nonzero(counts))
        if not (counts[counts > 0].min() >= 2 and n_out >= n_classes and rows - n_out >= n_classes):
            warn(f"{what}: too few rows per class to stratify; splitting at random")
            stratify = False
    return split_index(y, fraction, seed, stratify)


def split(x, y, fraction: float, seed: int, stratify: bool, what: str):
    """(x_keep, x_out, y_keep, y_out), seeded and, for classes, stratified when the counts allow."""
    # Rows keep their file order within a split (fit shuffles anyway): gathers run sequentially.
    keep, out = split_rows(y, fraction, seed, stratify, what)
    return take(x, keep), take(x, out), y[keep], y[out]


def folds(y, k: int, seed: int, *, stratify: bool, groups=None, what: str = "cross_validation") -> np.ndarray:
    """The fold (0..k-1) of every row: a seeded shuffle dealt out in turn, by class when ``stratify``; with
    ``groups``, whole groups are dealt out, largest first, each to the fold with the fewest rows so far."""
    rows = len(y)
    rng = np.random.default_rng([seed, k])
    if groups is not None:
        names, group_of, sizes = np.unique(groups, return_inverse=True, return_counts=True)
        if len(names) < k:
            raise DataError(f"{what}: {len(names)} group(s) cannot fill {k} folds; fewer folds or another group column")
        order = rng.permutation(len(names))
        order = order[np.argsort(-sizes[order], kind="stable")]
        filled, fold_of_group = np.zeros(k, dtype=np.int64), np.empty(len(names), dtype=np.int64)
        for g in order:
            fold_of_group[g] = int(np.argmin(filled))
            filled[fold_of_group[g]] += sizes[g]
        return fold_of_group[group_of]
    if rows < k:
        raise DataError(f"{what}: {rows} training rows cannot fill {k} folds; fewer folds or more data")
    order = rng.permutation(rows)
    if stratify:
        counts = np.bincount(y)
        if counts[counts > 0].min() < k:
            warn(f"{what}: a class has fewer rows than the {k} folds; some folds have none of it")
        order = order[np.argsort(y[order], kind="stable")]  # grouped by class, random within each
    which = np.empty(rows, dtype=np.int64)
    which[order] = np.arange(rows) % k
    return which


def _offset(seed: int) -> int:
    """A seed-dependent rotation of the hash, computed with Python's unbounded ints."""
    return (seed * 0x9E3779B1 + 0x5BD1E995) % HASH_MOD


def split_codes(index: np.ndarray, seed: int, test: float, val: float) -> np.ndarray:
    """0 train, 1 validation, 2 test for each row number: a seeded hash, the same in numpy and TF."""
    u = ((index.astype(np.int64) * HASH_MULT + _offset(seed)) % HASH_MOD) / HASH_MOD
    return np.where(u < test, 2, np.where(u < test + (1 - test) * val, 1, 0)).astype(np.int8)


def split_codes_tf(tf, index, seed: int, test: float, val: float):
    u = tf.cast(tf.math.floormod(index * HASH_MULT + _offset(seed), HASH_MOD), tf.float64) / HASH_MOD
    return tf.where(u < test, 2, tf.where(u < test + (1 - test) * val, 1, 0))
