"""From raw arrays to splits: infer the task, encode classes, split with the seed."""

from __future__ import annotations

import numpy as np

from dlcli.data.base import DataInfo, Dataset, RawData, sha256_arrays, sha256_file
from dlcli.errors import DataError, warn

MANY_CLASSES = 50


def infer_task(requested: str, y: np.ndarray, label: str) -> str:
    """binary / multiclass / regression, from the target's values unless ``requested`` says."""
    y = np.asarray(y)
    kind = y.dtype.kind
    if requested == "regression":
        if kind not in "iuf":
            raise DataError(
                f"{label}: task is regression but the target is not numeric (e.g. {y.ravel()[0]!r}); set task: classification"
            )
        return "regression"
    if kind == "f" and requested == "auto":
        return "regression"
    if kind == "f":
        finite = y[np.isfinite(y)]
        if not np.all(finite == np.round(finite)):
            raise DataError(
                f"{label}: task is {requested} but the target has fractional values (e.g. {_first_fraction(y)}); use task: regression"
            )
    classes = np.unique(y)
    if len(classes) < 2:
        raise DataError(
            f"{label}: the target has a single class ({_plain(classes[0])!r} in every row); a classifier needs at least two"
        )
    if requested == "binary" and len(classes) != 2:
        raise DataError(f"{label}: task is binary but the target has {len(classes)} classes; use task: multiclass")
    if requested == "multiclass" and len(classes) == 2:
        return "multiclass"
    return "binary" if len(classes) == 2 else "multiclass"


def _first_fraction(y):
    frac = y[np.isfinite(y) & (y != np.round(y))]
    return frac[0] if len(frac) else y[0]


def encode(raw: RawData, task: str) -> tuple[np.ndarray, np.ndarray | None, list | None]:
    """Targets as class indices (classification) or float32 (regression), plus the class list."""
    y = np.ravel(raw.y) if raw.y.ndim == 2 else raw.y
    y_test = None if raw.y_test is None else (np.ravel(raw.y_test) if raw.y_test.ndim == 2 else raw.y_test)
    if task == "regression":
        return y.astype(np.float32), None if y_test is None else y_test.astype(np.float32), None
    values = np.unique(y)
    if len(values) > MANY_CLASSES and values.dtype.kind in "iu":
        warn(
            f"{raw.target_label}: {len(values)} distinct whole numbers read as classes; set task: regression if it is a quantity"
        )
    y_idx = np.searchsorted(values, y).astype(np.int32)
    y_test_idx = None
    if y_test is not None:
        if y_test.dtype.kind != values.dtype.kind and {y_test.dtype.kind, values.dtype.kind} <= {"i", "u", "f"}:
            y_test = y_test.astype(values.dtype)
        unseen = np.setdiff1d(np.unique(y_test), values)
        if len(unseen):
            raise DataError(f"{raw.target_label}: test labels {unseen[:5].tolist()} never appear in the training data")
        y_test_idx = np.searchsorted(values, y_test).astype(np.int32)
    classes = [_plain(v) for v in values]
    if raw.class_names:
        classes = [raw.class_names.get(v, str(v)) for v in classes]
    return y_idx, y_test_idx, classes


def _plain(value):
    """numpy scalar -> the JSON-friendly Python value."""
    return value.item() if hasattr(value, "item") else value


def _split(x, y, fraction: float, seed: int, stratify: bool, what: str):
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    n_out = int(np.ceil(fraction * len(x)))
    if n_out < 1 or len(x) - n_out < 1:
        raise DataError(
            f"{what}: {len(x)} rows cannot be split {1 - fraction:.0%}/{fraction:.0%}; more data or another split"
        )
    if stratify:
        counts = np.bincount(y)
        n_classes = int(np.count_nonzero(counts))
        if counts[counts > 0].min() >= 2 and n_out >= n_classes and len(x) - n_out >= n_classes:
            return train_test_split(x, y, test_size=fraction, random_state=seed, stratify=y)
        warn(f"{what}: too few rows per class to stratify; splitting at random")
    return train_test_split(x, y, test_size=fraction, random_state=seed, shuffle=True)


def prepare(raw: RawData, config) -> Dataset:
    """Task, labels and seeded train / validation / test splits of ``raw``."""
    data = config.data
    task = infer_task(
        config.task,
        raw.y if raw.y_test is None else np.concatenate([np.ravel(raw.y), np.ravel(raw.y_test)]),
        raw.target_label,
    )
    y, y_test, classes = encode(raw, task)
    x = raw.x.astype(np.float32, copy=False)
    stratify = task != "regression"
    if raw.x_test is not None:
        x_train, y_train = x, y
        x_test = raw.x_test.astype(np.float32, copy=False)
    else:
        x_train, x_test, y_train, y_test = _split(x, y, data.test_split, config.seed, stratify, "test_split")
    x_val = y_val = None
    if data.validation_split > 0:
        x_train, x_val, y_train, y_val = _split(
            x_train, y_train, data.validation_split, config.seed, stratify, "validation_split"
        )
    if stratify:
        missing = np.setdiff1d(np.arange(len(classes)), np.unique(y_train))
        if len(missing):
            raise DataError(
                f"{raw.target_label}: class(es) {[classes[i] for i in missing[:5]]} have no training rows; more data or a smaller test_split"
            )
    splits = {"train": len(x_train), "validation": 0 if x_val is None else len(x_val), "test": len(x_test)}
    fingerprint = {
        "source": data.source,
        "name": data.name,
        "files": {f: {"sha256": sha256_file(f)} for f in raw.files},
        "arrays_sha256": sha256_arrays(raw.x, raw.y, raw.x_test, raw.y_test),
        "rows": int(len(raw.x) + (0 if raw.x_test is None else len(raw.x_test))),
    }
    info = DataInfo(
        task=task,
        input_shape=tuple(int(d) for d in x.shape[1:]),
        classes=classes,
        feature_names=raw.feature_names,
        splits=splits,
        fingerprint=fingerprint,
    )
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test, info)


def normalization_stats(x_train: np.ndarray, scale: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and variance of the (flattened, scaled) training split, in float64.

    A feature that never varies in training gets variance 1, so it is only
    centred: dividing by ~0 would blow up any other value it takes later.
    """
    flat = x_train.reshape(len(x_train), -1).astype(np.float64)
    if scale is not None:
        flat *= scale
    mean = flat.mean(axis=0)
    var = flat.var(axis=0)
    var[var <= 1e-12] = 1.0
    return mean, var
