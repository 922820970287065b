"""``source: csv``: CSV files (TSV for ``.tsv``/``.tab``), compressed or not, in memory or streamed with tf.data.

The delimiter is ``data.delimiter`` when given, else the one of
``DELIMITERS`` that splits the header line; a header split by several is an
error naming ``data.delimiter``. ``data.decimal`` is the mark that cells.py's
rule reads numbers with. pandas reads the cells; every cell is text until
that rule types it (``TYPED`` is false), so a cell can be re-read as written
(``as_text``).
"""

from __future__ import annotations

import contextlib
import csv as stdcsv
import os
from typing import Literal

from pydantic import Field, field_validator

from dlcli.data import cells
from dlcli.data.formats.files import compression, opened, suffix
from dlcli.data.keys import TableConfig
from dlcli.errors import DataError

NAME = "csv"
SUFFIXES = (".csv", ".tsv", ".tab", ".txt")
TYPED = False
DELIMITERS = (",", ";", "\t", "|")
STREAM_ABOVE_BYTES = 1 << 30  # streaming: auto streams files above 1 GiB


class CsvConfig(TableConfig):
    source: Literal["csv"] = "csv"
    delimiter: Literal[",", ";", "\t", "|"] | None = Field(
        None, description="Column delimiter; default: the one of , ; tab | that splits the header line."
    )
    decimal: Literal[".", ","] = Field(".", description="Decimal mark of the numbers: . (49.1) or , (49,1).")

    @field_validator("delimiter", "decimal", mode="before")
    @classmethod
    def _known_mark(cls, value, info):
        allowed = DELIMITERS if info.field_name == "delimiter" else (".", ",")
        if value is not None and value not in allowed:
            shown = " ".join("'\\t' (tab)" if mark == "\t" else repr(mark) for mark in allowed)
            raise ValueError(f"{value!r} is not a {info.field_name} dlcli reads; one of {shown}")
        return value

    streaming: bool | Literal["auto"] = Field(
        "auto", description="Stream the file from disk with tf.data (auto: files above 1 GiB)."
    )


CONFIG = CsvConfig


def streams(config) -> bool:
    """Stream this config's data? (``streaming: true``, or ``auto`` and a file above the threshold)."""
    data = config.data
    if data.streaming == "auto":  # tf.data reads plain and gzip text only
        return compression(data.path) in (None, ".gz") and os.path.getsize(data.path) > STREAM_ABOVE_BYTES
    return data.streaming


class TwoDelimiters(DataError):
    """A header line split by more than one delimiter; ``located_header`` places it at ``data.delimiter``."""


def separator(path: str, given: str | None = None) -> str:
    """``given`` (``data.delimiter``), else the one delimiter that splits the header line; the suffix's by default."""
    if given:
        return given
    with opened(path) as fh:
        line = fh.readline().rstrip("\r\n")
    found = [d for d in DELIMITERS if len(next(stdcsv.reader([line], delimiter=d), [])) > 1]
    by_suffix = "\t" if suffix(path) in (".tsv", ".tab") else ","
    if not found or (by_suffix == "\t" and by_suffix in found):  # a .tsv's tabs win over commas in its names
        return by_suffix
    if len(found) == 1:
        return found[0]
    shown = " and ".join(repr(d) for d in found)
    raise TwoDelimiters(
        f"{path}: line 1: the header is split by {shown}; set data.delimiter to the one between the columns"
    )


def header(path: str, dialect: dict | None = None) -> list[str]:
    """Column names, read without loading the table."""
    sep = separator(path, (dialect or {}).get("delimiter"))
    with opened(path) as fh:
        row = next(stdcsv.reader(fh, delimiter=sep, skipinitialspace=True), None)
    if not row:
        raise DataError(f"{path}: the file is empty; expected a header row and data rows")
    return [c.strip() for c in row]


def csv_options(path: str, delimiter: str | None = None, decimal: str = ".") -> dict:
    """How dlcli reads every CSV/TSV with pandas: the delimiter and decimal mark, the missing-value words, spaces
    after separators, a BOM (compression is pandas's inference from the name)."""
    return {"sep": separator(path, delimiter), "decimal": decimal, "skipinitialspace": True,
            "na_values": list(cells.MISSING_TEXT), "keep_default_na": False, "encoding": "utf-8-sig"}  # fmt: skip


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


def read_frame(path: str, usecols: list[str] | None = None, dialect: dict | None = None):
    """(frame, ("line", file line of each row)) with pandas's own typing; missing cells are NaN, blank lines dropped."""
    import warnings

    import pandas as pd

    dialect = dialect or {}
    with csv_errors(path), warnings.catch_warnings():  # mixed-type chunks become object columns, which table checks
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        options = csv_options(path, dialect.get("delimiter"), dialect.get("decimal") or ".")
        frame = pd.read_csv(path, skip_blank_lines=False, usecols=usecols, **options)
    frame.columns = [str(c).strip() for c in frame.columns]
    empty = frame.isna().to_numpy()
    blank = empty.all(axis=1)
    if empty.any():
        _check_short_rows(path, options["sep"])  # pandas reads an absent trailing field as an empty one
    if blank.any():
        frame = frame[~blank]
    return frame, ("line", frame.index.to_numpy() + 2)  # file line: 1-based, after the header


def as_text(path: str, columns: list[str], dialect: dict | None = None, *, holes: bool = True):
    """The cells of ``columns`` exactly as written, one row per file row (blank lines too); with ``holes``
    the missing-value words are holes (NaN), else kept as text."""
    import pandas as pd

    options = csv_options(path, (dialect or {}).get("delimiter"))
    if not holes:
        options = {**options, "na_values": [], "keep_default_na": False}
    with csv_errors(path):
        text = pd.read_csv(path, usecols=columns, dtype=str, skip_blank_lines=False, **options)
    text.columns = [str(c).strip() for c in text.columns]
    return text


def _check_short_rows(path: str, sep: str) -> None:
    """A row with fewer fields than the header is an error, not a row of missing values."""
    width = len(header(path, {"delimiter": sep}))
    with opened(path) as fh:
        reader = stdcsv.reader(fh, delimiter=sep, skipinitialspace=True)
        next(reader, None)
        for row in reader:
            if row and any(cell.strip() for cell in row) and len(row) < width:
                raise DataError(
                    f"{path}: line {reader.line_num} has {len(row)} field(s) but the header has {width}; "
                    "every row needs the same number of fields as the header"
                )
