"""``source: parquet``: Parquet tables, read in memory with pyarrow; cells carry their own types."""

from __future__ import annotations

from typing import Literal

from dlcli.data.keys import TableConfig
from dlcli.errors import DataError

NAME = "parquet"
SUFFIXES = (".parquet", ".pq")
TYPED = True


class ParquetConfig(TableConfig):
    source: Literal["parquet"] = "parquet"


CONFIG = ParquetConfig


def header(path: str, dialect: dict | None = None) -> list[str]:
    """Column names, from the file's schema."""
    import pyarrow.parquet as pq

    try:
        return [str(c) for c in pq.read_schema(path).names]
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends
        raise DataError(f"{path}: not a readable Parquet file ({str(exc)[:120]})") from None


def read_frame(path: str, usecols: list[str] | None = None, dialect: dict | None = None):
    """(frame, ("row", 1-based row number)); numbers as nullable numbers, text as objects with None for holes."""
    import pandas as pd

    frame = pd.read_parquet(path, columns=usecols, dtype_backend="numpy_nullable")
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.StringDtype):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame, ("row", frame.index.to_numpy() + 1)
