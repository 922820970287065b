"""Table files (CSV, TSV, Parquet): the header, pandas's read with dlcli's options, and a cheap probe.

``probe`` scans a CSV with the csv module (no pandas import), reading each
cell by the one rule of ``cells``; ``frame`` reads the whole table with
pandas. ``table`` checks and encodes the columns.
"""

from __future__ import annotations

import contextlib
import csv as stdcsv
from pathlib import Path

import numpy as np

from dlcli import names
from dlcli.data import cells
from dlcli.data.base import Probe
from dlcli.errors import DataError

PARQUET = (".parquet", ".pq")


def is_parquet(path: str) -> bool:
    return Path(path).suffix.lower() in PARQUET


def sep(path: str) -> str:
    return "\t" if Path(path).suffix.lower() in (".tsv", ".tab") else ","


def header(path: str) -> list[str]:
    """Column names, read without loading the table."""
    if is_parquet(path):
        import pyarrow.parquet as pq

        try:
            return [str(c) for c in pq.read_schema(path).names]
        except FileNotFoundError:
            raise DataError(f"{path}: file not found") from None
        except Exception as exc:  # pyarrow raises ArrowInvalid and friends
            raise DataError(f"{path}: not a readable Parquet file ({str(exc)[:120]})") from None
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            row = next(stdcsv.reader(fh, delimiter=sep(path), skipinitialspace=True), None)
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
    y = cells.typed(np.array(sorted(scan[target]["values"]), dtype=object))
    if not len(y):
        raise DataError(f"{path}: target column '{target}' is empty in every row")
    from dlcli.data.prepare import infer_task

    task = infer_task(config.task, y, f"{path}: column '{target}'")
    n_classes = len(y) if task in ("binary", "multiclass") else None
    declared = set(config.data.categorical or ())
    categorical = {
        c: len(scan[c]["values"]) for c in features if c in declared or (scan[c]["text"] and not scan[c]["number"])
    }
    numeric = [c for c in features if c not in categorical]
    return Probe(input_shape=(len(numeric),), task=task, n_classes=n_classes, rows=rows, vocab_sizes=categorical)


def _scan(path: str, wanted: list[str], cap: int = 100_000) -> tuple[dict, int]:
    """Per column: distinct filled values (up to ``cap``), whether any reads as a number or as text; row count."""
    out = {c: {"values": set(), "number": False, "text": False} for c in wanted}
    if is_parquet(path):
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=wanted)
        for name in wanted:
            column = table.column(name)
            textual = str(column.type) in ("string", "large_string")
            values = {str(v).strip() for v in column.unique().to_pylist() if v is not None}
            out[name] = {
                "values": {v for v in values if not cells.is_missing(v)},
                "number": not textual,
                "text": textual,
            }
        return out, table.num_rows
    index = {c: i for i, c in enumerate(header(path))}
    rows = 0
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = stdcsv.reader(fh, delimiter=sep(path), skipinitialspace=True)
        next(reader, None)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            rows += 1
            for name, facts in out.items():
                i = index[name]
                cell = row[i].strip() if i < len(row) else ""
                if cells.is_missing(cell):
                    continue
                if len(facts["values"]) < cap:
                    facts["values"].add(cell)
                if cells.number(cell) is None:
                    facts["text"] = True
                else:
                    facts["number"] = True
    return out, rows


def csv_options(path: str) -> dict:
    """How dlcli reads every CSV/TSV with pandas: the missing-value words, spaces after separators, a BOM."""
    return {"sep": sep(path), "skipinitialspace": True, "na_values": list(cells.MISSING_TEXT), "keep_default_na": False,
            "encoding": "utf-8-sig"}  # fmt: skip


@contextlib.contextmanager
def csv_errors(path: str):
    """pandas's parse errors on ``path`` as one-line DataErrors."""
    import pandas as pd

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


def read_frame(path: str, usecols: list[str] | None = None):
    """(frame, row labels for messages) with pandas's own typing; missing cells are NaN, blank lines dropped."""
    import pandas as pd

    if is_parquet(path):
        frame = pd.read_parquet(path, columns=usecols, dtype_backend="numpy_nullable")
        for col in frame.columns:
            if isinstance(frame[col].dtype, pd.StringDtype):
                frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
        return frame, ("row", frame.index.to_numpy() + 1)
    import warnings

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
        reader = stdcsv.reader(fh, delimiter=sep(path), skipinitialspace=True)
        next(reader, None)
        for row in reader:
            if row and any(cell.strip() for cell in row) and len(row) < width:
                raise DataError(
                    f"{path}: line {reader.line_num} has {len(row)} field(s) but the header has {width}; "
                    "every row needs the same number of fields as the header"
                )
