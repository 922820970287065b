"""CSV and TSV tables: numeric feature columns and a target column."""

from __future__ import annotations

import csv as stdcsv
from pathlib import Path

import numpy as np

from dlcli import names
from dlcli.data.base import Probe, RawData
from dlcli.errors import DataError

MAX_ROWS_SHOWN = 3


def _sep(path: str) -> str:
    return "\t" if Path(path).suffix.lower() in (".tsv", ".tab") else ","


def _header(path: str) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            row = next(stdcsv.reader(fh, delimiter=_sep(path)), None)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file; save the table as UTF-8 CSV") from None
    if not row:
        raise DataError(f"{path}: the file is empty; expected a header row and data rows")
    return [c.strip() for c in row]


def _columns(config, header: list[str], path: str, where) -> tuple[str, list[str]]:
    data = config.data
    if data.target not in header:
        raise DataError(
            f"{where(('data', 'target'))}: data.target: no column '{data.target}' in {path}"
            f"{names.did_you_mean(data.target, header)}; columns: {', '.join(header)}"
        )
    if data.features is None:
        return data.target, [c for c in header if c != data.target]
    missing = [f for f in data.features if f not in header]
    if missing:
        hint = names.did_you_mean(missing[0], header)
        raise DataError(
            f"{where(('data', 'features'))}: data.features: no column '{missing[0]}' in {path}{hint}; "
            f"columns: {', '.join(header)}"
        )
    return data.target, list(data.features)


def probe(config) -> Probe:
    path = config.data.path
    target, features = _columns(config, _header(path), path, config.where)
    if not features:
        raise DataError(f"{path}: no feature columns besides the target '{target}'")
    header = _header(path)
    index = header.index(target)
    values = set()
    rows = 0
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = stdcsv.reader(fh, delimiter=_sep(path))
        next(reader, None)
        for row in reader:
            if not row:
                continue
            rows += 1
            if index < len(row) and len(values) <= 100_000:
                values.add(row[index].strip())
    from dlcli.data.prepare import infer_task  # noqa: PLC0415

    if rows == 0:
        raise DataError(f"{path}: has a header but no data rows")
    y = _typed(np.array(sorted(values - {""}), dtype=object))
    if not len(y):
        raise DataError(f"{path}: target column '{target}' is empty in every row")
    task = infer_task(config.task, y, f"{path}: column '{target}'")
    n_classes = len(y) if task in ("binary", "multiclass") else None
    return Probe(input_shape=(len(features),), task=task, n_classes=n_classes, rows=rows)


def _typed(values: np.ndarray) -> np.ndarray:
    """Strings -> ints, else floats, else the strings (as pandas would type the column)."""
    for kind in (int, float):
        try:
            return np.array([kind(v) for v in values])
        except ValueError:
            continue
    return values.astype(str)


def read_table(path: str, config, where) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features as float32, target, feature names) of one CSV file, with every problem named."""
    import pandas as pd  # noqa: PLC0415

    header = _header(path)
    target, features = _columns(config, header, path, where)
    if not features:
        raise DataError(f"{path}: no feature columns besides the target '{target}'")
    try:
        frame = pd.read_csv(
            path, sep=_sep(path), skipinitialspace=True, dtype=str, keep_default_na=False,
            skip_blank_lines=False, encoding="utf-8-sig",
        )  # fmt: skip
    except pd.errors.ParserError as exc:
        raise DataError(
            f"{path}: {str(exc).strip()}; every row needs the same number of fields as the header"
        ) from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file; save the table as UTF-8 CSV") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    blank = (frame.apply(lambda col: col.str.strip()) == "").all(axis=1)
    frame = frame[~blank.to_numpy()]
    if len(frame) == 0:
        raise DataError(f"{path}: has a header but no data rows")
    lines = frame.index.to_numpy() + 2  # file line of each row: 1-based, after the header
    x = np.empty((len(frame), len(features)), dtype=np.float32)
    for j, col in enumerate(features):
        x[:, j] = _numeric(frame[col], path, col, lines)
    y = _target(frame[target], path, target, lines)
    return x, y, features


def _line_numbers(mask, lines: np.ndarray) -> str:
    rows = lines[np.asarray(mask)]
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_SHOWN])
    more = f" and {len(rows) - MAX_ROWS_SHOWN} more" if len(rows) > MAX_ROWS_SHOWN else ""
    return f"line{'s' if len(rows) > 1 else ''} {shown}{more}"


def _numeric(column, path: str, name: str, lines: np.ndarray) -> np.ndarray:
    import pandas as pd  # noqa: PLC0415

    text = column.str.strip()
    empty = text.isin(["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"])
    if empty.any():
        raise DataError(
            f"{path}: column '{name}' has missing values at {_line_numbers(empty, lines)}; fill or drop those rows"
        )
    values = pd.to_numeric(text.replace({"true": "1", "false": "0", "True": "1", "False": "0"}), errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path}: column '{name}', line {lines[first]}: {text.iloc[first]!r} is not a number "
            f"({int(bad.sum())} such value(s)); fix it, or leave the column out with data.features"
        )
    return values.to_numpy(dtype=np.float32)


def _target(column, path: str, name: str, lines: np.ndarray) -> np.ndarray:
    text = column.str.strip()
    empty = text == ""
    if empty.any():
        raise DataError(
            f"{path}: target column '{name}' is empty at {_line_numbers(empty, lines)}; fill or drop those rows"
        )
    return _typed(text.to_numpy(dtype=object))


def read(config) -> RawData:
    data = config.data
    x, y, features = read_table(data.path, config, config.where)
    files = [data.path]
    x_test = y_test = None
    if data.test_path:
        x_test, y_test, test_features = read_table(data.test_path, config, config.where)
        files.append(data.test_path)
        if test_features != features:
            raise DataError(f"{data.test_path}: feature columns {test_features} differ from {data.path}'s {features}")
        if y.dtype.kind != y_test.dtype.kind and {y.dtype.kind, y_test.dtype.kind} <= {"i", "f"}:
            y, y_test = y.astype(float), y_test.astype(float)
    return RawData(
        x=x,
        y=y,
        x_test=x_test,
        y_test=y_test,
        feature_names=features,
        files=files,
        target_label=f"{data.path}: column '{data.target}'",
    )


def read_features(path: str, features: list[str], target: str | None) -> np.ndarray:
    """The feature columns of a file to predict on, checked against the training schema."""
    import pandas as pd  # noqa: PLC0415

    header = _header(path)
    missing = [f for f in features if f not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} that the model was trained on")
    extra = [c for c in header if c not in features and c != target]
    if extra:
        raise DataError(
            f"{path}: column(s) {', '.join(extra)} were not in the training data; "
            f"the model takes {', '.join(features)} (the target may be present)"
        )
    try:
        frame = pd.read_csv(path, sep=_sep(path), skipinitialspace=True, dtype=str, keep_default_na=False,
                            skip_blank_lines=False, encoding="utf-8-sig", usecols=features)  # fmt: skip
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: {str(exc).strip()}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    blank = (frame.apply(lambda col: col.str.strip()) == "").all(axis=1)
    frame = frame[~blank.to_numpy()]
    if len(frame) == 0:
        raise DataError(f"{path}: has a header but no data rows")
    lines = frame.index.to_numpy() + 2
    x = np.empty((len(frame), len(features)), dtype=np.float32)
    for j, col in enumerate(features):
        x[:, j] = _numeric(frame[col], path, col, lines)
    return x
