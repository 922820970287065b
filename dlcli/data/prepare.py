"""From raw arrays to splits: infer the task, encode classes, split with the seed."""

from __future__ import annotations

import numpy as np

from dlcli.data import fingerprint, target
from dlcli.data.base import DataInfo, Dataset, RawData
from dlcli.data.features import numeric, take, with_numeric
from dlcli.data.splits import folds, split, split_rows
from dlcli.data.task import decide, filled_targets, plain, whole_classes
from dlcli.errors import DataError
from dlcli.log import note, warn


def _flat(y):
    return None if y is None else (np.ravel(y) if y.ndim == 2 else y)


def encode(raw: RawData, task: str, units: int | None = None):
    """Targets of (train, validation, test) as class indices or float32, plus the class list.

    Classes come from the training rows; a label seen only in a given
    validation or test file is an error. With ``units`` (whole-number labels
    below it, see ``units_beyond_labels``) the classes are 0..units-1 and each
    label is its own index.
    """
    y, y_val, y_test = _flat(raw.y), _flat(raw.y_val), _flat(raw.y_test)
    if task != "regression" and y is not None and whole_classes(y) is not y:
        y = whole_classes(y)
        y_val, y_test = (None if a is None else a.astype(np.int64) for a in (y_val, y_test))
    if task == "regression":
        cast = [None if a is None else a.astype(np.float32) for a in (y, y_val, y_test)]
        return (*cast, None)
    values = np.unique(y) if units is None else np.arange(units, dtype=np.unique(y).dtype)
    encoded = [np.searchsorted(values, y).astype(np.int32)]
    for other, what in ((y_val, "validation"), (y_test, "test")):
        if other is None:
            encoded.append(None)
            continue
        if other.dtype.kind != values.dtype.kind and {other.dtype.kind, values.dtype.kind} <= {"i", "u", "f"}:
            other = other.astype(values.dtype)
        unseen = np.setdiff1d(np.unique(other), values)
        if len(unseen):
            raise DataError(
                f"{raw.target_label}: {what} labels {[plain(v) for v in unseen[:5]]} never appear in the training data"
            )
        encoded.append(np.searchsorted(values, other).astype(np.int32))
    classes = [plain(v) for v in values]
    if raw.class_names:
        classes = [raw.class_names.get(v, str(v)) for v in classes]
    return (*encoded, classes)


def units_beyond_labels(config, labels: np.ndarray, task: str) -> int | None:
    """The output's units, when they should index whole-number labels directly (else None).

    Integer labels 0..9 with a class absent from the file and ``units: 10``
    train as plain Keras trains them: label k on output unit k, so the saved
    model predicts the user's own label numbers. Warns, located at the units.
    """
    out = config.model.output
    if task != "multiclass" or out == "auto" or out.units == "auto":
        return None
    labels = np.unique(labels)
    if labels.dtype.kind not in "iu" or labels.min() < 0 or out.units <= labels.max() or len(labels) == out.units:
        return None
    missing = np.setdiff1d(np.arange(out.units), labels)
    shown = ", ".join(str(int(v)) for v in missing[:5]) + (", ..." if len(missing) > 5 else "")
    warn(
        config.problem(
            ("model", "output", "units"),
            f"warning: {out.units} units for {len(labels)} classes; label(s) {shown} never occur. Unit k stays "
            f"label k (labels.json lists 0..{out.units - 1}); the absent label(s) are never a training target",
        )
    )
    return int(out.units)


def own_numbers_units(config, raw: RawData, task: str) -> int | None:
    """``units_beyond_labels`` for labels that are the user's own numbers, not codes of named classes (iris)."""
    if raw.class_names and any(name != value for value, name in raw.class_names.items()):
        return None
    return units_beyond_labels(config, all_labels(raw), task)


def all_labels(raw: RawData) -> np.ndarray:
    """Every target value of ``raw``: training, validation and test files together."""
    return np.concatenate([np.ravel(a) for a in (raw.y, raw.y_val, raw.y_test) if a is not None])


def without_missing_targets(raw: RawData, config) -> RawData:
    """``raw`` without the rows whose target is NaN (arrays; a table's reader drops its own), per
    ``data.target_missing``."""
    from dataclasses import replace

    parts = {}
    for x_key, y_key, what in (("x", "y", ""), ("x_val", "y_val", " (validation)"), ("x_test", "y_test", " (test)")):
        y = getattr(raw, y_key)
        if y is None or y.dtype.kind != "f":
            continue
        filled = ~np.isnan(y.reshape(len(y), -1)).any(axis=1)
        if not filled.all():
            parts[y_key] = filled_targets(config, y, f"{raw.target_label}{what}")
            parts[x_key] = take(getattr(raw, x_key), filled)
    return replace(raw, **parts) if parts else raw


def _as_float(x, label: str, missing: str):
    values = numeric(x).astype(np.float32, copy=False)
    if values.dtype.kind == "f":
        if np.isinf(values).any():
            raise DataError(f"{label}: features contain infinite values; fix or drop those rows")
        if missing == "error" and np.isnan(values).any():
            rows = np.flatnonzero(np.isnan(values.reshape(len(values), -1)).any(axis=1))
            raise DataError(
                f"{label}: {len(rows)} row(s) have missing (NaN) features, first at index {rows[0]}; "
                "set data.missing: drop | mean | median | zero"
            )
    return with_numeric(x, values)


def _drop_missing(x, y, label):
    values = numeric(x)
    holes = np.isnan(values.reshape(len(values), -1)).any(axis=1)
    if holes.any():
        warn(f"{label}: dropped {int(holes.sum())} row(s) with missing (NaN) features")
    return take(x, ~holes), y[~holes]


def fill_values(x_train, policy: str) -> np.ndarray | None:
    """Per-feature values for missing cells, from the training split only."""
    if policy not in ("mean", "median", "zero"):
        return None
    values = numeric(x_train)
    flat = values.reshape(len(values), -1).astype(np.float64)
    if policy == "zero" or flat.shape[1] == 0:
        return np.zeros(flat.shape[1])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fills = np.nanmean(flat, axis=0) if policy == "mean" else np.nanmedian(flat, axis=0)
    empty = np.isnan(fills)
    if empty.any():
        warn(f"{int(empty.sum())} feature(s) have no value in the training split; their missing cells become 0")
        fills[empty] = 0.0
    return fills


def fill(x, fills):
    """``x`` with NaN cells of its numeric part replaced by ``fills``."""
    if x is None or fills is None:
        return x
    values = numeric(x)
    shape = values.shape
    flat = values.reshape(len(values), -1)
    holes = np.isnan(flat)
    if holes.any():
        flat = flat.copy()
        flat[holes] = np.take(np.asarray(fills), np.nonzero(holes)[1]).astype(np.float32)
    return with_numeric(x, flat.reshape(shape))


def _say_filled(label: str, raw: RawData, parts: list, policy: str) -> None:
    """One note naming the numeric columns whose holes are filled, so a fill is never silent."""
    if policy not in ("mean", "median", "zero"):
        return
    arrays = [numeric(p) for p in parts]
    counts = sum(np.isnan(a.reshape(len(a), -1)).sum(axis=0) for a in arrays if a.size)
    if not np.any(counts):
        return
    names = [c for c in (raw.feature_names or []) if c not in raw.categorical]
    holes = [
        f"{names[j] if j < len(names) else f'feature {j}'} ({int(n)})" for j, n in enumerate(np.ravel(counts)) if n
    ]
    shown = ", ".join(holes[:5]) + (f" and {len(holes) - 5} more" if len(holes) > 5 else "")
    what = "zero" if policy == "zero" else f"the training split's {policy}"
    note(f"{label}: missing values filled with {what} (data.missing: {policy}; error refuses them): {shown}")


def _check_unseen(x, vocab: dict, unseen: str, what: str) -> None:
    if unseen != "error" or x is None or not vocab:
        return
    for column, known in vocab.items():
        new = np.setdiff1d(np.unique(x[column]), known)
        if len(new):
            raise DataError(
                f"{what}: column '{column}' has categories {new[:5].tolist()} that the training split lacks "
                "(data.unseen: error); use data.unseen: oov to give them their own bucket"
            )


def flagged_columns(x_train, config, features: list[str] | None) -> list[int]:
    """The numeric columns with holes in the training split, when ``data.missing_indicators`` asks for their flags."""
    if not config.data.missing_indicators:
        return []
    values = numeric(x_train)
    if values.ndim != 2 or not features:
        raise DataError(
            f"{config.where(('data', 'missing_indicators'))}: data.missing_indicators flags the columns of a table; "
            f"these inputs are an array of shape {values.shape[1:]}"
        )
    return np.flatnonzero(np.isnan(values).any(axis=0)).tolist()


def with_flags(x, columns: list[int]):
    """``x`` with one 0/1 numeric column appended per column in ``columns``: 1 where that column has a hole."""
    if x is None or not columns:
        return x
    values = numeric(x)
    flags = np.isnan(values[:, columns]).astype(values.dtype)
    return with_numeric(x, np.concatenate([values, flags], axis=1))


def prepare(raw: RawData, config, *, test_holes: bool = False, fold: int | None = None) -> Dataset:
    """Task, labels and seeded train / validation / test splits of ``raw``.

    Holes are filled with the training split's fill, except in the test split with ``test_holes`` (the raw
    rows an export is checked on). ``fold`` (with ``training.cross_validation``) gives that fold's data: the
    test split is left out, the fold's own rows are its test split and the validation split comes from the
    other folds' rows.
    """
    data = config.data
    raw = without_missing_targets(raw, config)
    labels = all_labels(raw)
    task, reason = decide(config.task, labels, raw.target_label)
    units = own_numbers_units(config, raw, task)
    y, y_val, y_test, classes = encode(raw, task, units)
    label = raw.target_label.split(": column")[0]
    x = _as_float(raw.x, label, data.missing)
    x_val = None if raw.x_val is None else _as_float(raw.x_val, label, data.missing)
    x_test = None if raw.x_test is None else _as_float(raw.x_test, label, data.missing)
    if data.missing == "drop":
        x, y = _drop_missing(x, y, label)
        if x_val is not None:
            x_val, y_val = _drop_missing(x_val, y_val, label)
        if x_test is not None:
            x_test, y_test = _drop_missing(x_test, y_test, label)
    stratify = task != "regression"
    x_train, y_train, rows = x, y, np.arange(len(y))
    test_rows, labelled = None, sum(len(a) for a in (y, y_val, y_test) if a is not None)
    if x_test is None:
        keep, out = split_rows(y_train, data.test_split, config.seed, stratify, "test_split")
        x_train, x_test, y_train, y_test, rows, test_rows = take(x, keep), take(x, out), y[keep], y[out], keep, out
    fold_facts = None
    if fold is not None:
        cv = config.training.cross_validation
        groups = None if raw.groups is None else raw.groups[rows]
        held = folds(y_train, cv.folds, config.seed, stratify=stratify and cv.stratify, groups=groups) == fold
        x_train, x_test, y_train, y_test = take(x_train, ~held), take(x_train, held), y_train[~held], y_train[held]
        rows, test_rows = rows[~held], rows[held]
        fold_facts = {"index": fold, "of": cv.folds, "rows": int(labelled)}
    if x_val is None and data.validation_split > 0:
        x_train, x_val, y_train, y_val = split(
            x_train, y_train, data.validation_split, config.seed, stratify, "validation_split"
        )
    fills = fill_values(x_train, data.missing)
    _say_filled(label, raw, [a for a in (x_train, x_val, x_test) if a is not None], data.missing)
    flagged = flagged_columns(x_train, config, raw.feature_names) if fills is not None else []
    x_train, x_val, x_test = (with_flags(a, flagged) for a in (x_train, x_val, x_test))
    filling = None if fills is None else np.concatenate([fills, np.zeros(len(flagged), dtype=fills.dtype)])
    x_train, x_val = fill(x_train, filling), fill(x_val, filling)
    x_test = x_test if test_holes else fill(x_test, filling)
    vocab = {c: np.unique(x_train[c]).tolist() for c in raw.categorical}
    _check_unseen(x_val, vocab, raw.unseen, "validation split")
    _check_unseen(x_test, vocab, raw.unseen, "test split")
    if stratify:
        present = np.unique(np.concatenate([a for a in (y_train, y_val, y_test) if a is not None]))
        absent = np.setdiff1d(present, np.unique(y_train))
        if len(absent):
            raise DataError(
                f"{raw.target_label}: class(es) {[classes[i] for i in absent[:5]]} have no training rows; "
                "more data or a smaller test_split"
            )
    splits = {"train": len(y_train), "validation": 0 if x_val is None else len(y_val), "test": len(y_test)}
    facts = fingerprint.of(
        data, files=raw.files, arrays=(raw.x, raw.y, raw.x_val, raw.y_val, raw.x_test, raw.y_test),
        rows=int(sum(len(a) for a in (raw.y, raw.y_val, raw.y_test) if a is not None)), columns=raw.feature_names,
    )  # fmt: skip
    info = DataInfo(
        task=task,
        task_reason=reason,
        input_shape=tuple(int(d) for d in numeric(x_train).shape[1:]),
        classes=classes,
        feature_names=raw.feature_names,
        splits=splits,
        fingerprint=facts,
        fill=None if fills is None else [float(v) for v in fills],
        vocab=vocab,
        fold=fold_facts,
        indicators=[int(j) for j in flagged],
        **target.facts(task, raw.y, y_train),
    )
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test, info, test_rows=test_rows)
