"""``source: jsonl``: JSON Lines tables (``.jsonl``, ``.ndjson``; compressed like a CSV), one JSON object per line.

Each line is an object of column -> value: numbers and text as JSON types
them, ``null`` or a missing key a hole, blank lines skipped. The columns are
the keys in the order they first appear. A line that is not valid JSON, not
an object, or that nests an object or a list is an error naming the file, the
line and the fix. Values keep their JSON types (``TYPED``): ``5075`` is a
whole number and ``"5075"`` text that reads as one, as in a CSV.
"""

from __future__ import annotations

import json
from typing import Literal

from dlcli.data.formats.files import opened
from dlcli.data.keys import TableConfig
from dlcli.errors import DataError

NAME = "jsonl"
SUFFIXES = (".jsonl", ".ndjson")
TYPED = True  # values carry their own types: nothing to re-read as text


class JsonlConfig(TableConfig):
    source: Literal["jsonl"] = "jsonl"


CONFIG = JsonlConfig


def _rows(path: str):
    """(line number, object) of every non-blank line, each checked."""
    with opened(path) as fh:
        for number, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path}: line {number}: not valid JSON ({exc.msg} at column {exc.colno}); write one JSON object "
                    "per line"
                ) from None
            if not isinstance(row, dict):
                raise DataError(
                    f"{path}: line {number}: a JSON {type(row).__name__} where a JSON object (column: value) was "
                    "expected; write one object per line"
                )
            for key, value in row.items():
                if isinstance(value, (dict, list)):
                    raise DataError(
                        f"{path}: line {number}: column '{key}' holds a nested {'object' if isinstance(value, dict) else 'list'}; "
                        "flatten it into columns of numbers or text"
                    )
            yield number, row


def header(path: str, dialect: dict | None = None) -> list[str]:
    """The columns: every key, in the order keys first appear."""
    seen: dict[str, None] = {}
    for _, row in _rows(path):
        seen.update(dict.fromkeys(str(k) for k in row))
    if not seen:
        raise DataError(f"{path}: the file is empty; expected one JSON object per line")
    return list(seen)


def read_frame(path: str, usecols: list[str] | None = None, dialect: dict | None = None):
    """(frame, ("line", line number of each row)); holes (null, a missing key) are missing values.

    A column keeps JSON's types: whole numbers (nullable ``Int64``), numbers (``Float64``), true/false
    (``boolean``), else text (objects, None for a hole), as Parquet's columns come.
    """
    import numpy as np
    import pandas as pd

    numbers, rows = [], []
    for number, row in _rows(path):
        numbers.append(number)
        rows.append({str(k): v for k, v in row.items()})
    if not rows:
        raise DataError(f"{path}: has no data rows; expected one JSON object per line")
    names = list(dict.fromkeys(k for row in rows for k in row))
    if usecols is not None:
        names = [c for c in names if c in set(usecols)]
    frame = pd.DataFrame({name: _column([row.get(name) for row in rows]) for name in names})
    return frame, ("line", np.asarray(numbers))


def _column(values: list):
    """A column of JSON values as pandas holds Parquet's: typed by what its filled values are."""
    import pandas as pd

    filled = [v for v in values if v is not None]
    if filled and all(isinstance(v, bool) for v in filled):
        return pd.array(values, dtype="boolean")
    if filled and all(isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**63 for v in filled):
        return pd.array(values, dtype="Int64")
    if filled and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in filled):
        return pd.array([None if v is None else float(v) for v in values], dtype="Float64")
    return pd.array(values, dtype=object)
