"""Tables (any format of ``formats``: CSV, TSV, Parquet, JSON Lines) with feature columns and a target column.

Every problem names the file, the column, the line (CSV) or row (Parquet) and
the value. Missing values are an error unless ``data.missing`` says how to
treat them: ``drop`` drops the rows here; ``mean``, ``median`` and ``zero`` keep
them as NaN for ``prepare`` to fill from the training split only.
"""

from __future__ import annotations

import numpy as np

from dlcli.data import cells, tablefile
from dlcli.data.base import RawData
from dlcli.data.tablefile import (
    KEEP_AS_CATEGORIES,
    OtherDecimalMark,
    check_decimal,
    check_identifier,
    columns,
    dialect,
    located_header,
    read_frame,
    warn_constant,
)
from dlcli.data.task import listed, missing_targets
from dlcli.errors import DataError
from dlcli.log import warn
from dlcli.names import did_you_mean

MAX_ROWS_SHOWN = 3


def places(mask, where) -> str:
    word, labels = where
    rows = labels[np.asarray(mask)]
    return listed(word, rows[:MAX_ROWS_SHOWN], len(rows))


def _numeric(column, path: str, name: str, where, missing: str, decimal: str = ".") -> np.ndarray:
    """A feature column as float32; missing cells are an error or NaN, per the policy."""
    return numbers(column, path, name, where, missing, decimal).astype(np.float32)


def numbers(column, path: str, name: str, where, missing: str, decimal: str = ".") -> np.ndarray:
    """A feature column as float64, every cell checked: a word, a hole (unless allowed) or inf is an error."""
    import pandas as pd

    empty = column.isna().to_numpy()
    if empty.any() and missing == "error":
        raise DataError(
            f"{path}: column '{name}' has missing values at {places(empty, where)}; fill them, or set "
            "data.missing: drop | mean | median | zero"
        )
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        text = None
    else:
        values, text = cells.numbers(column, decimal)
    bad = np.isnan(values) & ~empty
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        other = "," if decimal == "." else "."
        words = text[bad].unique()[:1000]
        fix = (
            f'set data.decimal: "{other}"'
            if all(cells.number(w, other) is not None for w in words)
            else "fix it, or leave the column out with data.features"
        )
        error = OtherDecimalMark if fix.startswith("set data.decimal") else DataError
        raise error(
            f"{path}: column '{name}', {where[0]} {where[1][first]}: {text.iloc[first]!r} is not a number "
            f"({int(bad.sum())} such value(s)); {fix}"
        )
    infinite = np.isinf(values)
    if infinite.any():
        first = int(np.flatnonzero(infinite)[0])
        raise DataError(
            f"{path}: column '{name}', {where[0]} {where[1][first]}: {values[first]} is not a finite number"
        )
    return values


MISSING_CATEGORY = cells.MISSING_CATEGORY


def _is_text(column, decimal: str = ".") -> bool:
    """True when no filled cell of ``column`` reads as a number: a categorical column."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return False
    filled = column[column.notna()]
    if filled.empty:
        return False
    numbers, _ = cells.numbers(filled, decimal)
    return bool(np.isnan(numbers).all())


def categories(column, path: str, name: str, where, missing: str) -> np.ndarray:
    empty = column.isna().to_numpy()
    if empty.any() and missing == "error":
        raise DataError(
            f"{path}: categorical column '{name}' has missing values at {places(empty, where)}; fill them, "
            f"or set data.missing (then they become the category '{MISSING_CATEGORY}')"
        )
    return cells.categories(column)


def _written_whole(column, path: str, name: str, config) -> bool:
    """Is a float target column (floats because it has holes) written as whole numbers (``5075``, not ``5075.0``)?

    The probe types the cells as written (``cells.typed``); this reads the same text, so both decide alike.
    """
    if column.isna().all() or not np.all(column.dropna() == np.round(column.dropna())):
        return False
    fmt = tablefile.format_of(path, config.data.source)
    if fmt.TYPED:
        return False  # a Parquet or JSON float column is floats; its type is not a guess from text
    options = dialect(config.data)
    text = fmt.as_text(path, [name], options)[name]
    return cells.typed(text.dropna().str.strip().unique(), options["decimal"]).dtype.kind in "iu"


def _target_values(column, written_whole: bool = False) -> np.ndarray:
    """The target as ints, floats or stripped strings.

    A column of whole numbers that pandas read as float only because some
    cells were empty (``written_whole``) stays whole numbers, as written.
    """
    import pandas as pd

    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=str)
    if pd.api.types.is_integer_dtype(column):
        return column.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        return values.astype(np.int64) if written_whole else values
    return cells.typed(column.astype(str).str.strip().to_numpy(dtype=object))


def _warn_constant_columns(config, path: str, features, categorical, x, cats) -> None:
    """One warning per feature with a single filled value; linear in the rows (no sort: this runs on every read)."""
    import warnings

    numeric = [c for c in features if c not in categorical]
    if numeric and len(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: nanmin of nothing
            low, high = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
        for j in np.flatnonzero(low == high):
            warn_constant(config, path, numeric[j], [float(low[j])])
    for column, values in cats.items():
        filled = values[values != MISSING_CATEGORY]
        if len(filled) and (filled == filled[0]).all():
            warn_constant(config, path, column, [str(filled[0])])


def categorical_columns(config, frame, features: list[str]) -> list[str]:
    """Declared categorical columns plus every feature whose cells are all text, in feature order."""
    declared = set(config.data.categorical or ())
    decimal = dialect(config.data)["decimal"]
    found = [c for c in features if c in declared or _is_text(frame[c], decimal)]
    for column in found:
        if column not in declared:
            text = frame[column].dropna().astype(str).str.strip()
            check_decimal(config, config.data.path, column, text, KEEP_AS_CATEGORIES)
            check_identifier(config, config.data.path, column, text.nunique(), len(text))
    for column in config.data.embedding or {}:
        if column not in found:
            raise DataError(
                f"{config.where(('data', 'embedding', column))}: data.embedding.{column}: '{column}' is not a "
                "categorical column; list it in data.categorical or remove it"
            )
    return found


def _encode(frame, path: str, where, features: list[str], categorical: list[str], missing: str, decimal: str):
    """(numeric features as float32 (n, k), {categorical column: str (n,)}) of a frame, every cell checked."""
    import pandas as pd

    numeric = [c for c in features if c not in categorical]
    plain = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) for c in numeric]
    if numeric and all(plain) and frame.columns.is_unique:
        for col in numeric:  # checked column by column, then copied in one block (row-major writes are slow)
            numbers(frame[col], path, col, where, missing, decimal)
        x = frame[numeric].to_numpy(dtype=np.float32, na_value=np.nan)
    else:
        x = np.empty((len(frame), len(numeric)), dtype=np.float32)
        for j, col in enumerate(numeric):
            x[:, j] = _numeric(frame[col], path, col, where, missing, decimal)
    return x, {col: categories(frame[col], path, col, where, missing) for col in categorical}


def read_table(path: str, config, categorical: list[str] | None = None, *, with_groups: bool = False):
    """(features, target, feature names, categorical columns) of one file, with every problem named; with
    ``with_groups``, also each row's cross-validation group (or None).

    Features are a float32 array, or, when some columns are categorical, a dict
    ``{"numeric": float32 (n, k), column: str (n,) ...}``. ``categorical`` fixes
    the columns for a validation or test file to those of the training file.
    """
    options = dialect(config.data)
    target, features = columns(config, located_header(config, path), path)
    missing = config.data.missing
    frame, where = read_frame(path, **options, source=config.data.source)
    if len(frame) == 0:
        raise DataError(f"{path}: has a header but no data rows")
    y_empty, whole = frame[target].isna().to_numpy(), False
    if y_empty.all():
        raise DataError(f"{path}: target column '{target}' is empty in every row")
    if y_empty.any():
        missing_targets(config, f"{path}: column '{target}'", int(y_empty.sum()), places(y_empty, where))
        whole = _written_whole(frame[target], path, target, config) if frame[target].dtype.kind == "f" else False
        frame, where = frame[~y_empty], (where[0], where[1][~y_empty])
    training_file = categorical is None
    if training_file:
        categorical = categorical_columns(config, frame, features)
    x, cats = _encode(frame, path, where, features, categorical, missing, options["decimal"])
    if training_file:
        _warn_constant_columns(config, path, features, categorical, x, cats)
    if missing == "drop":
        holes = np.isnan(x).any(axis=1)
        for values in cats.values():
            holes |= values == MISSING_CATEGORY
        if holes.any():
            warn(f"{path}: dropped {int(holes.sum())} row(s) with missing values ({places(holes, where)})")
            x, frame = x[~holes], frame[~holes]
            cats = {col: values[~holes] for col, values in cats.items()}
        if len(x) == 0:
            raise DataError(f"{path}: every row has a missing value; data.missing: drop leaves nothing")
    features_out = {"numeric": x, **cats} if categorical else x
    y = _target_values(frame[target], whole)
    if y.dtype.kind == "U":
        check_decimal(config, path, target, np.unique(y))
    if with_groups:
        return features_out, y, features, categorical, _groups(config, frame, path)
    return features_out, y, features, categorical


def _groups(config, frame, path: str):
    """The cross-validation group of every row (``training.cross_validation.group``), or None."""
    cv = config.training.cross_validation
    if cv is None or cv.group is None:
        return None
    if cv.group not in frame.columns:
        raise DataError(
            f"{config.where(('training', 'cross_validation', 'group'))}: training.cross_validation.group: no column "
            f"'{cv.group}' in {path}{did_you_mean(cv.group, [str(c) for c in frame.columns])}"
        )
    values = frame[cv.group]
    if values.isna().any():
        raise DataError(
            f"{path}: column '{cv.group}' (training.cross_validation.group) is empty in "
            f"{int(values.isna().sum())} row(s); every row needs a group"
        )
    return values.astype(str).to_numpy()


def read(config) -> RawData:
    data = config.data
    x, y, features, categorical, groups = read_table(data.path, config, with_groups=True)
    files = [data.path]
    extra = {}
    for key in ("validation_path", "test_path"):
        other = getattr(data, key)
        if not other:
            continue
        ox, oy, other_features, _ = read_table(other, config, categorical)
        if other_features != features:
            raise DataError(f"{other}: feature columns {other_features} differ from {data.path}'s {features}")
        files.append(other)
        extra[key] = (ox, oy)
    ys = [y] + [oy for _, oy in extra.values()]
    if len({a.dtype.kind for a in ys}) > 1 and {a.dtype.kind for a in ys} <= {"i", "f"}:
        y = y.astype(float)
        extra = {k: (ox, oy.astype(float)) for k, (ox, oy) in extra.items()}
    x_test, y_test = extra.get("test_path", (None, None))
    x_val, y_val = extra.get("validation_path", (None, None))
    return RawData(
        x=x, y=y, x_test=x_test, y_test=y_test, x_val=x_val, y_val=y_val, feature_names=features, files=files,
        target_label=f"{data.path}: column '{data.target}'", categorical=categorical, unseen=data.unseen,
        groups=groups,
    )  # fmt: skip


def read_features(path: str, schema, **options):
    """The rows of a table file to predict on, checked against the training schema (``newrows.read_file``)."""
    from dlcli.data.newrows import read_file

    return read_file(path, schema, **options)


def scoring_data(source: str, path: str, trained, schema) -> dict:
    """The ``data:`` keys that score a trained run on every row of the table at ``path``.

    The columns are the training's: the same target and features, and the
    categorical columns the model was built with (not guessed again from this file).
    """
    from dlcli.data import formats

    taken = formats.module(source).CONFIG.model_fields
    keys = ("target", "embedding", "unseen", "missing", "normalize", "scale", "decimal", "delimiter")
    return {
        **{key: getattr(trained, key) for key in keys if key in taken and getattr(trained, key, None) is not None},
        "source": source,
        "path": path,
        "features": schema.features,
        "categorical": schema.categorical or None,
    }


class TableSource:
    """A table format as a data source (see ``sources.base``): its ``data:`` keys and suffixes, read by this module."""

    probe = None  # a table is probed by reading it as train does (load.probe)

    def __init__(self, fmt):
        self.format = fmt
        self.NAME = fmt.NAME
        self.EXTENSIONS = fmt.SUFFIXES
        self.CONFIG = fmt.CONFIG
        self.streams = getattr(fmt, "streams", None)  # CSV streams large files with tf.data

    def __repr__(self) -> str:
        return f"TableSource({self.NAME!r})"

    @staticmethod
    def read(config) -> RawData:
        return read(config)

    @staticmethod
    def read_inputs(path: str, schema, **options):
        return read_features(path, schema, **options)

    def scoring_data(self, path: str, trained, schema) -> dict:
        """The ``data:`` keys that score a trained run on every row of the table at ``path``."""
        return scoring_data(self.NAME, path, trained, schema)
