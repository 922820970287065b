"""The task, decided once from the target's non-missing values, with the reason said in words.

``validate`` (a source's probe), ``train`` (``prepare``) and the streamed
pass all call ``decide``, on the target's distinct filled values typed the way
``cells.typed`` types a column, so they cannot disagree. With ``task: auto``:

- text (or true/false) labels are classes: binary for two, else multiclass;
- whole numbers (``7``, and ``7.0`` when only two values occur) with two values are binary;
- whole numbers that look like class codes (0..k-1 or 1..k, a few gaps allowed) or that take at most
  ``MANY_CLASSES`` values are multiclass; more distinct whole numbers are a quantity (grams, years): regression;
- numbers with fractions are a regression.

A row whose target is missing is dropped, with a count, or refused with
``data.target_missing: error``; the task is decided from the rest.
"""

from __future__ import annotations

import numpy as np

from dlcli.errors import DataError

MANY_CLASSES = 50  # more distinct whole numbers than this (and not class codes) read as a quantity
CODE_GAPS = 1.1  # class codes 0..k-1 may miss up to a tenth of their values (absent classes)


def decide(requested: str, y: np.ndarray, label: str) -> tuple[str, str]:
    """(task, reason): binary / multiclass / regression and why, from the target's filled values ``y``."""
    y = np.asarray(y)
    kind = y.dtype.kind
    if requested == "regression":
        if kind not in "iuf":
            raise DataError(
                f"{label}: task is regression but the target is not numeric (e.g. {plain(y.ravel()[0])!r}); set task: classification"
            )
        return "regression", "set by task: regression"
    if requested != "auto":
        return _classes(requested, y, label), f"set by task: {requested}"
    if kind == "f" and two_whole_numbers(y):  # 0.0/1.0 (a 0/1 column pandas read as float) is binary
        return _classes("auto", y.astype(np.int64), label), f"two values only, {_shown(np.unique(y))}"
    if kind == "f":
        finite = y[np.isfinite(y)]
        return "regression", f"numbers from {finite.min():g} to {finite.max():g}, read as a quantity"
    distinct = np.unique(y)
    if kind in "iu" and len(distinct) > 2 and not _codes(distinct) and len(distinct) > MANY_CLASSES:
        return "regression", (
            f"{len(distinct)} distinct whole numbers from {plain(distinct[0])} to {plain(distinct[-1])}, read as a "
            "quantity; set task: multiclass if they are classes"
        )
    task = _classes("auto", y, label)
    if kind in "iu":
        return task, f"{len(distinct)} whole-number labels ({_shown(distinct)})"
    return task, f"{len(distinct)} text labels ({_shown(distinct)})"


def infer_task(requested: str, y: np.ndarray, label: str) -> str:
    """The task of ``decide``, without the reason."""
    return decide(requested, y, label)[0]


def _classes(requested: str, y: np.ndarray, label: str) -> str:
    """binary or multiclass for a classifier's target; an error when the values cannot be classes."""
    if y.dtype.kind == "f":
        finite = y[np.isfinite(y)]
        if not np.all(finite == np.round(finite)):
            raise DataError(
                f"{label}: task is {requested} but the target has fractional values (e.g. {_first_fraction(y)}); use task: regression"
            )
    classes = np.unique(y)
    if len(classes) < 2:
        raise DataError(
            f"{label}: the target has a single class ({plain(classes[0])!r} in every row); a classifier needs at least two"
        )
    if requested == "binary" and len(classes) != 2:
        raise DataError(f"{label}: task is binary but the target has {len(classes)} classes; use task: multiclass")
    if requested == "multiclass" and len(classes) == 2:
        return "multiclass"
    return "binary" if len(classes) == 2 else "multiclass"


def _codes(distinct: np.ndarray) -> bool:
    """Whole numbers that number classes: from 0 or 1, nearly without gaps (cifar100's 0..99, not grams)."""
    low, high = int(distinct[0]), int(distinct[-1])
    return low in (0, 1) and high - low + 1 <= CODE_GAPS * len(distinct)


def _shown(values, most: int = 4) -> str:
    values = [plain(v) for v in values]
    text = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:most])
    return text + (f", ... {values[-1]!r}" if isinstance(values[-1], str) else f", ... {values[-1]}") * (
        len(values) > most
    )


def two_whole_numbers(y) -> bool:
    finite = y[np.isfinite(y)]
    return len(np.unique(finite)) == 2 and bool(np.all(finite == np.round(finite)))


def whole_classes(y):
    """A float target holding two whole numbers, as integers (its classes are 0 and 1, not 0.0 and 1.0)."""
    if y is not None and y.dtype.kind == "f" and two_whole_numbers(y) and np.all(np.isfinite(y)):
        return y.astype(np.int64)
    return y


def _first_fraction(y):
    frac = y[np.isfinite(y) & (y != np.round(y))]
    return frac[0] if len(frac) else y[0]


def plain(value):
    """numpy scalar -> the JSON-friendly Python value."""
    return value.item() if hasattr(value, "item") else value


def missing_targets(config, label: str, count: int, where: str) -> None:
    """``count`` rows without a target value at ``where`` (e.g. ``lines 7, 9``): an error with
    ``data.target_missing: error``, else a warning that they are dropped."""
    from dlcli.log import warn

    if not count:
        return
    if getattr(config.data, "target_missing", "drop") == "error":
        raise DataError(
            f"{config.where(('data', 'target_missing'))}: data.target_missing: {label} is empty at {where}; fill "
            "those rows, or set data.target_missing: drop to leave them out"
        )
    warn(f"{label}: dropped {count} row(s) without a target value ({where}); data.target_missing: error refuses them")


def filled_targets(config, y: np.ndarray, label: str) -> np.ndarray:
    """The rows of an array target ``y`` that hold a value; NaN rows are dropped or refused (``missing_targets``)."""
    if y.dtype.kind != "f":
        return y
    holes = np.isnan(y.reshape(len(y), -1)).any(axis=1)
    rows = np.flatnonzero(holes)
    missing_targets(config, label, len(rows), listed("index", rows[:3], len(rows)))
    return y[~holes]


def listed(word: str, shown, total: int) -> str:
    """``line 7``, ``lines 7, 9, 12 and 3 more``: where ``total`` things are, the first few ``shown``."""
    more = f" and {total - len(shown)} more" if total > len(shown) else ""
    return f"{word}{'s' if total > 1 and word != 'index' else ''} {', '.join(str(r) for r in shown)}{more}"
