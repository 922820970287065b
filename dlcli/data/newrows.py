"""New rows for a trained model, checked cell by cell against its ``InputSchema``.

Rows come as a file (any table format of ``formats``; NPZ/NPY for array models), a
DataFrame, a dict of columns or a list of row dicts. Columns that are not
features are ignored (one line names them); a missing feature column is an
error. A row that cannot be predicted (a word in a number column, a hole the
model has no fill for, a category unseen with ``unseen: error``) stops the
read with its line or row and column, or, with ``skip_bad_rows``, is set
aside with its reason while the others are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dlcli.data import cells
from dlcli.data.features import InputSchema, take
from dlcli.data.prepare import fill
from dlcli.data.tablefile import format_of, read_frame
from dlcli.errors import DataError
from dlcli.log import note

FLOAT32_MAX = float(np.finfo(np.float32).max)  # the model takes float32: a larger number would become inf


def too_big(value: float) -> str:
    return f"{value} is beyond float32's range, which the model takes"


@dataclass
class Rows:
    """Features of the rows that can be predicted, plus what goes beside the predictions."""

    x: object  # features of the good rows, as the training arrays were (see features.py)
    ok: np.ndarray  # bool per input row
    errors: list  # per input row: None, or why it cannot be predicted
    kept: dict  # --keep column -> its values, one per input row
    unseen: dict = field(default_factory=dict)  # categorical column -> rows whose category training never saw

    @property
    def total(self) -> int:
        return len(self.ok)


def read(data, schema: InputSchema, *, keep=(), skip_bad_rows: bool = False, label: str | None = None,
         skip_hint: str = "--skip-bad-rows") -> Rows:  # fmt: skip
    """``data`` (a DataFrame, dict of columns or list of row dicts; an array for an array model) as ``Rows``."""
    if not schema.features:
        return of_array(np.asarray(data, dtype=np.float32))
    frame = frame_of(data)
    return check(frame, ("row", np.arange(len(frame))), label or "the rows", schema, keep=keep,
                 skip_bad_rows=skip_bad_rows, skip_hint=skip_hint)  # fmt: skip


def of_array(x) -> Rows:
    """Rows of an array model's input (read and checked whole by its source)."""
    return Rows(x=x, ok=np.ones(len(x), dtype=bool), errors=[None] * len(x), kept={})


def read_file(path: str, schema: InputSchema, *, keep=(), skip_bad_rows: bool = False,
              skip_hint: str = "--skip-bad-rows", delimiter: str | None = None, decimal: str = ".") -> Rows:  # fmt: skip
    """The rows of a table file (any format of ``formats``, compressed or not) for a model with ``schema``; a CSV
    read with the training's ``data.delimiter`` (sniffed when it had none) and ``data.decimal``."""
    if not schema.features:
        raise DataError(f"{path}: this model was not trained on a table; give an .npz with an array 'x'")
    frame, where = read_frame(path, delimiter=delimiter, decimal=decimal)
    kept = _kept_text(path, list(keep), frame, delimiter)
    return check(frame, where, path, schema, keep=keep, kept=kept, skip_bad_rows=skip_bad_rows,
                 skip_hint=skip_hint, decimal=decimal)  # fmt: skip


def frame_of(data):
    """A DataFrame of a DataFrame, a dict of columns (or of one row's values) or a list of row dicts."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if isinstance(data, dict):
        if all(np.ndim(v) == 0 for v in data.values()):
            return pd.DataFrame([data])
        return pd.DataFrame({k: np.asarray(v).reshape(-1) if np.ndim(v) > 1 else v for k, v in data.items()})
    if isinstance(data, (list, tuple)) and all(isinstance(r, dict) for r in data):
        return pd.DataFrame(list(data))
    raise DataError(
        f"cannot read rows from a {type(data).__name__}; give a DataFrame, a dict of columns, a list of row dicts "
        "or a file path"
    )


def _kept_text(path: str, keep: list[str], frame, delimiter: str | None = None) -> dict:
    """--keep columns of a file, as written (an id ``007`` stays ``007``), aligned with ``frame``'s rows."""
    if not keep:
        return {}
    _require(frame.columns, keep, path, "--keep")
    fmt = format_of(path)
    if fmt.TYPED:  # the cells are what the file holds
        return {c: frame[c].to_numpy() for c in keep}
    text = fmt.as_text(path, keep, {"delimiter": delimiter}, holes=False)
    return {c: text[c].to_numpy()[frame.index.to_numpy()] for c in keep}


def _require(columns, wanted: list[str], label: str, what: str) -> None:
    absent = [c for c in wanted if c not in set(map(str, columns))]
    if absent:
        raise DataError(f"{label}: no column(s) {', '.join(absent)} to {what}")


def check(frame, where, label: str, schema: InputSchema, *, keep=(), kept=None, skip_bad_rows=False,
          skip_hint="--skip-bad-rows", decimal: str = ".") -> Rows:  # fmt: skip
    """Every feature cell of ``frame`` checked and converted; the first bad cell stops unless ``skip_bad_rows``."""
    frame.columns = [str(c) for c in frame.columns]
    features = schema.features
    absent = [f for f in features if f not in frame.columns]
    if absent:
        raise DataError(f"{label}: missing column(s) {', '.join(absent)} that the model was trained on")
    if kept is None:
        _require(frame.columns, list(keep), label, "keep")
        kept = {c: frame[c].to_numpy() for c in keep}
    ignored = [c for c in frame.columns if c not in features and c != schema.target and c not in keep]
    if ignored:
        note(f"{label}: ignoring column(s) {', '.join(ignored)}: not features of the model")
    n = len(frame)
    problems = np.full(n, None, dtype=object)
    numeric = np.empty((n, len(schema.numeric_columns)), dtype=np.float32)
    for j, column in enumerate(schema.numeric_columns):
        numeric[:, j] = _numbers(frame[column], column, schema, problems, decimal)
    cats = {column: _categories(frame[column], column, schema, problems) for column in schema.categorical}
    bad = np.array([p is not None for p in problems], dtype=bool)
    if bad.any() and not skip_bad_rows:
        first = int(np.flatnonzero(bad)[0])
        column, what = problems[first]
        at = f"{where[0]} {where[1][first]}"
        more = f" ({int(bad.sum())} row(s) like it)" if bad.sum() > 1 else ""
        said = f"column '{column}' has missing values at {at}" if what is None else f"column '{column}', {at}: {what}"
        raise DataError(f"{label}: {said}{more}; fix it, or pass {skip_hint} to predict the other rows")
    problems = [None if p is None else f"column '{p[0]}': {p[1] or 'missing value'}" for p in problems]
    x = numeric if schema.indicators else fill(numeric, schema.fill)  # flagged holes: the model fills them
    if schema.categorical:
        x = {"numeric": x, **cats}
    unseen = {}
    for column, values in cats.items():
        new = int((~np.isin(values[~bad], schema.vocab[column]) & (values[~bad] != cells.MISSING_CATEGORY)).sum())
        if new:
            unseen[column] = new
    if unseen:
        counts = ", ".join(f"{column} {n} row(s)" for column, n in unseen.items())
        note(f"{label}: categories not seen in training, predicted as an unknown category: {counts}")
    return Rows(x=take(x, ~bad), ok=~bad, errors=list(problems), kept=kept, unseen=unseen)


def _note(problems, mask, column: str, what) -> None:
    """Record (column, what is wrong) for the rows in ``mask`` that have no problem yet; ``what`` None is a hole."""
    for i in np.flatnonzero(mask):
        if problems[i] is None:
            problems[i] = (column, None if what is None else what(i))


def _numbers(column, name: str, schema: InputSchema, problems, decimal: str = ".") -> np.ndarray:
    import pandas as pd

    empty = column.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values, text = cells.numbers(column, decimal)
        empty = empty | text.isin(cells.MISSING_TEXT).to_numpy()  # "NA" or "" in memory is a hole, as in a file
        word = np.isnan(values) & ~empty
        _note(problems, word, name, lambda i: f"{text.iloc[i]!r} is not a number")
    _note(problems, np.isinf(values), name, lambda i: f"{values[i]} is not a finite number")
    big = np.abs(np.nan_to_num(values, posinf=0, neginf=0)) > FLOAT32_MAX
    _note(problems, big, name, lambda i: too_big(values[i]))
    if schema.fill is None:  # trained with data.missing: error or drop, so the model has no fill
        _note(problems, empty, name, None)
    return np.where(np.isinf(values) | big, np.nan, values)


def _categories(column, name: str, schema: InputSchema, problems) -> np.ndarray:
    values = cells.categories(column)
    hole = values == cells.MISSING_CATEGORY
    if schema.fill is None:
        _note(problems, hole, name, None)
    if schema.unseen == "error":
        new = ~np.isin(values, schema.vocab[name]) & ~hole
        _note(
            problems, new, name, lambda i: f"category {str(values[i])!r} was not seen in training (data.unseen: error)"
        )
    return values
