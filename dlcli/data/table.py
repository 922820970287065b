"""Tables: CSV, TSV and Parquet files with numeric feature columns and a target column.

Every problem names the file, the column, the line (CSV) or row (Parquet) and
the value. Missing values are an error unless ``data.missing`` says how to
treat them: ``drop`` drops the rows here; ``mean``, ``median`` and ``zero`` keep
them as NaN for ``prepare`` to fill from the training split only.
"""

from __future__ import annotations

import contextlib
import csv as stdcsv
from pathlib import Path

import numpy as np

from dlcli import names
from dlcli.data.base import Probe, RawData
from dlcli.errors import DataError, warn

MAX_ROWS_SHOWN = 3
MISSING_TEXT = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?")
PARQUET = (".parquet", ".pq")


def is_parquet(path: str) -> bool:
    return Path(path).suffix.lower() in PARQUET


def _sep(path: str) -> str:
    return "\t" if Path(path).suffix.lower() in (".tsv", ".tab") else ","


def header(path: str) -> list[str]:
    """Column names, read without loading the table."""
    if is_parquet(path):
        import pyarrow.parquet as pq  # noqa: PLC0415

        try:
            return [str(c) for c in pq.read_schema(path).names]
        except FileNotFoundError:
            raise DataError(f"{path}: file not found") from None
        except Exception as exc:  # pyarrow raises ArrowInvalid and friends
            raise DataError(f"{path}: not a readable Parquet file ({str(exc)[:120]})") from None
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            row = next(stdcsv.reader(fh, delimiter=_sep(path), skipinitialspace=True), None)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file; save the table as UTF-8 CSV") from None
    if not row:
        raise DataError(f"{path}: the file is empty; expected a header row and data rows")
    return [c.strip() for c in row]


def columns(config, head: list[str], path: str) -> tuple[str, list[str]]:
    """(target, features) for this file, or an error naming the missing column."""
    data, where = config.data, config.where
    if data.target not in head:
        raise DataError(
            f"{where(('data', 'target'))}: data.target: no column '{data.target}' in {path}"
            f"{names.did_you_mean(data.target, head)}; columns: {', '.join(head)}"
        )
    features = [c for c in head if c != data.target] if data.features is None else list(data.features)
    missing = [f for f in features if f not in head]
    if missing:
        raise DataError(
            f"{where(('data', 'features'))}: data.features: no column '{missing[0]}' in {path}"
            f"{names.did_you_mean(missing[0], head)}; columns: {', '.join(head)}"
        )
    if not features:
        raise DataError(f"{path}: no feature columns besides the target '{data.target}'")
    return data.target, features


def probe(config) -> Probe:
    path = config.data.path
    target, features = columns(config, header(path), path)
    scan, rows = _scan(path, [target, *features])
    if not rows:
        raise DataError(f"{path}: has a header but no data rows")
    values = scan[target]["values"]
    y = _typed(np.array(sorted(values - set(MISSING_TEXT)), dtype=object))
    if not len(y):
        raise DataError(f"{path}: target column '{target}' is empty in every row")
    from dlcli.data.prepare import infer_task  # noqa: PLC0415

    task = infer_task(config.task, y, f"{path}: column '{target}'")
    n_classes = len(y) if task in ("binary", "multiclass") else None
    declared = set(config.data.categorical or ())
    categorical = {
        c: len(scan[c]["values"] - set(MISSING_TEXT))
        for c in features
        if c in declared or (scan[c]["text"] and not scan[c]["number"])
    }
    numeric = [c for c in features if c not in categorical]
    return Probe(input_shape=(len(numeric),), task=task, n_classes=n_classes, rows=rows, vocab_sizes=categorical)


def _scan(path: str, wanted: list[str], cap: int = 100_000) -> tuple[dict, int]:
    """Per column: distinct values (up to ``cap``), whether any cell reads as a number or as text; row count."""
    out = {c: {"values": set(), "number": False, "text": False} for c in wanted}
    if is_parquet(path):
        import pyarrow.parquet as pq  # noqa: PLC0415

        table = pq.read_table(path, columns=wanted)
        for name in wanted:
            column = table.column(name)
            textual = str(column.type) in ("string", "large_string")
            out[name] = {
                "values": {str(v).strip() for v in column.unique().to_pylist() if v is not None},
                "number": not textual,
                "text": textual,
            }
        return out, table.num_rows
    index = {c: i for i, c in enumerate(header(path))}
    rows = 0
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = stdcsv.reader(fh, delimiter=_sep(path), skipinitialspace=True)
        next(reader, None)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            rows += 1
            for name, facts in out.items():
                i = index[name]
                cell = row[i].strip() if i < len(row) else ""
                if cell in MISSING_TEXT:
                    continue
                if len(facts["values"]) < cap:
                    facts["values"].add(cell)
                try:
                    float(cell)
                    facts["number"] = True
                except ValueError:
                    facts["text"] = facts["text"] or cell.lower() not in ("true", "false")
    return out, rows


def _typed(values: np.ndarray) -> np.ndarray:
    """Strings -> ints, else floats, else the strings (as pandas would type the column)."""
    for kind in (int, float):
        try:
            return np.array([kind(v) for v in values])
        except (ValueError, TypeError):
            continue
    return values.astype(str)


def csv_options(path: str) -> dict:
    """How dlcli reads every CSV/TSV with pandas: the missing-value words, spaces after separators, a BOM."""
    return {"sep": _sep(path), "skipinitialspace": True, "na_values": list(MISSING_TEXT), "keep_default_na": False,
            "encoding": "utf-8-sig"}  # fmt: skip


@contextlib.contextmanager
def csv_errors(path: str):
    """pandas's parse errors on ``path`` as one-line DataErrors."""
    import pandas as pd  # noqa: PLC0415

    try:
        yield
    except pd.errors.ParserError as exc:
        raise DataError(
            f"{path}: {str(exc).strip()}; every row needs the same number of fields as the header"
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: has a header but no data rows") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file; save the table as UTF-8 CSV") from None


def _frame(path: str, usecols: list[str] | None = None):
    """(frame, row labels for messages) with pandas's own typing; missing cells are NaN, blank lines dropped."""
    import pandas as pd  # noqa: PLC0415

    if is_parquet(path):
        frame = pd.read_parquet(path, columns=usecols, dtype_backend="numpy_nullable")
        for col in frame.columns:
            if isinstance(frame[col].dtype, pd.StringDtype):
                frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
        return frame, ("row", frame.index.to_numpy() + 1)
    import warnings  # noqa: PLC0415

    with csv_errors(path), warnings.catch_warnings():  # mixed-type chunks become object columns, which _numeric checks
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        frame = pd.read_csv(path, skip_blank_lines=False, usecols=usecols, **csv_options(path))
    frame.columns = [str(c).strip() for c in frame.columns]
    empty = frame.isna().to_numpy()
    blank = empty.all(axis=1)
    if empty.any():
        _check_short_rows(path, len(header(path)))  # pandas reads an absent trailing field as an empty one
    if blank.any():
        frame = frame[~blank]
    return frame, ("line", frame.index.to_numpy() + 2)  # file line: 1-based, after the header


def _check_short_rows(path: str, width: int) -> None:
    """A row with fewer fields than the header is an error, not a row of missing values."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = stdcsv.reader(fh, delimiter=_sep(path), skipinitialspace=True)
        next(reader, None)
        for row in reader:
            if row and any(cell.strip() for cell in row) and len(row) < width:
                raise DataError(
                    f"{path}: line {reader.line_num} has {len(row)} field(s) but the header has {width}; "
                    "every row needs the same number of fields as the header"
                )


def _places(mask, where) -> str:
    word, labels = where
    rows = labels[np.asarray(mask)]
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_SHOWN])
    more = f" and {len(rows) - MAX_ROWS_SHOWN} more" if len(rows) > MAX_ROWS_SHOWN else ""
    return f"{word}{'s' if len(rows) > 1 else ''} {shown}{more}"


def _parse_text(column):
    """(numbers as float64 with NaN, text cells) of an object column: true/false read as 1/0."""
    import pandas as pd  # noqa: PLC0415

    text = column.astype(str).str.strip()
    lowered = text.str.lower()
    text = text.where(~lowered.isin(["true", "false"]), (lowered == "true").astype(int).astype(str))
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan), text


def _numeric(column, path: str, name: str, where, missing: str) -> np.ndarray:
    """A feature column as float32; missing cells are an error or NaN, per the policy."""
    return numbers(column, path, name, where, missing).astype(np.float32)


def numbers(column, path: str, name: str, where, missing: str) -> np.ndarray:
    """A feature column as float64, every cell checked: a word, a hole (unless allowed) or inf is an error."""
    import pandas as pd  # noqa: PLC0415

    empty = column.isna().to_numpy()
    if empty.any() and missing == "error":
        raise DataError(
            f"{path}: column '{name}' has missing values at {_places(empty, where)}; fill them, or set "
            "data.missing: drop | mean | median | zero"
        )
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        text = None
    else:
        values, text = _parse_text(column)
    bad = np.isnan(values) & ~empty
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: column '{name}', {where[0]} {where[1][first]}: {text.iloc[first]!r} is not a number "
            f"({int(bad.sum())} such value(s)); fix it, or leave the column out with data.features"
        )
    infinite = np.isinf(values)
    if infinite.any():
        first = int(np.flatnonzero(infinite)[0])
        raise DataError(
            f"{path}: column '{name}', {where[0]} {where[1][first]}: {values[first]} is not a finite number"
        )
    return values


MISSING_CATEGORY = "(missing)"


def _is_text(column) -> bool:
    """True when no filled cell of ``column`` reads as a number: a categorical column."""
    import pandas as pd  # noqa: PLC0415

    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return False
    filled = column[column.notna()]
    if filled.empty:
        return False
    numbers, _ = _parse_text(filled)
    return bool(np.isnan(numbers).all())


def _categories(column, path: str, name: str, where, missing: str) -> np.ndarray:
    empty = column.isna().to_numpy()
    if empty.any() and missing == "error":
        raise DataError(
            f"{path}: categorical column '{name}' has missing values at {_places(empty, where)}; fill them, "
            f"or set data.missing (then they become the category '{MISSING_CATEGORY}')"
        )
    if column.dtype.kind == "f" and not empty.all() and np.all(np.mod(column[~empty], 1) == 0):
        column = column.astype("Int64")  # a declared integer category read as float because of a hole
    text = column.astype(str).str.strip().to_numpy(dtype=object)
    return np.where(empty, MISSING_CATEGORY, text).astype(str)


def _target_values(column, had_holes: bool = False) -> np.ndarray:
    """The target as ints, floats or stripped strings.

    A whole-number column that pandas read as float only because some cells
    were empty (``had_holes``) stays whole numbers, i.e. classes.
    """
    import pandas as pd  # noqa: PLC0415

    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=str)
    if pd.api.types.is_integer_dtype(column):
        return column.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        if had_holes and len(values) and np.all(values == np.round(values)):
            return values.astype(np.int64)
        return values
    return _typed(column.astype(str).str.strip().to_numpy(dtype=object))


def categorical_columns(config, frame, features: list[str]) -> list[str]:
    """Declared categorical columns plus every feature whose cells are all text, in feature order."""
    declared = set(config.data.categorical or ())
    found = [c for c in features if c in declared or _is_text(frame[c])]
    for column in config.data.embedding or {}:
        if column not in found:
            raise DataError(
                f"{config.where(('data', 'embedding', column))}: data.embedding.{column}: '{column}' is not a "
                "categorical column; list it in data.categorical or remove it"
            )
    return found


def _encode(frame, path: str, where, features: list[str], categorical: list[str], missing: str):
    """(numeric features as float32 (n, k), {categorical column: str (n,)}) of a frame, every cell checked."""
    import pandas as pd  # noqa: PLC0415

    numeric = [c for c in features if c not in categorical]
    plain = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) for c in numeric]
    if numeric and all(plain) and frame.columns.is_unique:
        for col in numeric:  # checked column by column, then copied in one block (row-major writes are slow)
            numbers(frame[col], path, col, where, missing)
        x = frame[numeric].to_numpy(dtype=np.float32, na_value=np.nan)
    else:
        x = np.empty((len(frame), len(numeric)), dtype=np.float32)
        for j, col in enumerate(numeric):
            x[:, j] = _numeric(frame[col], path, col, where, missing)
    return x, {col: _categories(frame[col], path, col, where, missing) for col in categorical}


def read_table(path: str, config, categorical: list[str] | None = None):
    """(features, target, feature names, categorical columns) of one file, with every problem named.

    Features are a float32 array, or, when some columns are categorical, a dict
    ``{"numeric": float32 (n, k), column: str (n,) ...}``. ``categorical`` fixes
    the columns for a validation or test file to those of the training file.
    """
    target, features = columns(config, header(path), path)
    missing = config.data.missing
    frame, where = _frame(path)
    if len(frame) == 0:
        raise DataError(f"{path}: has a header but no data rows")
    y_empty = frame[target].isna().to_numpy()
    if y_empty.any():
        if missing == "error":
            raise DataError(
                f"{path}: target column '{target}' is empty at {_places(y_empty, where)}; "
                "fill or drop those rows (data.missing: drop drops them)"
            )
        warn(f"{path}: dropped {int(y_empty.sum())} row(s) without a target ({_places(y_empty, where)})")
        frame, where = frame[~y_empty], (where[0], where[1][~y_empty])
        if len(frame) == 0:
            raise DataError(f"{path}: no row has a target value")
    if categorical is None:
        categorical = categorical_columns(config, frame, features)
    x, cats = _encode(frame, path, where, features, categorical, missing)
    if missing == "drop":
        holes = np.isnan(x).any(axis=1)
        for values in cats.values():
            holes |= values == MISSING_CATEGORY
        if holes.any():
            warn(f"{path}: dropped {int(holes.sum())} row(s) with missing values ({_places(holes, where)})")
            x, frame = x[~holes], frame[~holes]
            cats = {col: values[~holes] for col, values in cats.items()}
        if len(x) == 0:
            raise DataError(f"{path}: every row has a missing value; data.missing: drop leaves nothing")
    features_out = {"numeric": x, **cats} if categorical else x
    return features_out, _target_values(frame[target], bool(y_empty.any())), features, categorical


def read(config) -> RawData:
    data = config.data
    x, y, features, categorical = read_table(data.path, config)
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
        target_label=f"{data.path}: column '{data.target}'", categorical=categorical,
    )  # fmt: skip


def read_features(
    path: str,
    features: list[str],
    target: str | None,
    fill: list[float] | None = None,
    categorical: list[str] | None = None,
    vocab: dict[str, list[str]] | None = None,
    unseen: str = "oov",
):
    """The feature columns of a file to predict on, checked against the training schema.

    With ``fill`` (the training run's values for missing cells), numeric holes
    are filled as in training; without it they are an error. With ``unseen:
    error``, a category missing from the training vocabulary is an error.
    """
    head = header(path)
    missing = [f for f in features if f not in head]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} that the model was trained on")
    extra = [c for c in head if c not in features and c != target]
    if extra:
        raise DataError(
            f"{path}: column(s) {', '.join(extra)} were not in the training data; "
            f"the model takes {', '.join(features)} (the target may be present)"
        )
    frame, where = _frame(path, usecols=features)
    if len(frame) == 0:
        raise DataError(f"{path}: has a header but no data rows")
    from dlcli.data.prepare import fill as fill_holes  # noqa: PLC0415

    categorical = categorical or []
    x, cats = _encode(frame, path, where, features, categorical, "error" if fill is None else "keep")
    x = fill_holes(x, fill)
    if not categorical:
        return x
    out = {"numeric": x}
    for col, values in cats.items():
        if unseen == "error" and vocab is not None:
            new = ~np.isin(values, vocab[col])
            if new.any():
                first = int(np.flatnonzero(new)[0])
                raise DataError(
                    f"{path}: column '{col}', {where[0]} {where[1][first]}: category {str(values[first])!r} was not seen "
                    "in training (data.unseen: error)"
                )
        out[col] = values
    return out
