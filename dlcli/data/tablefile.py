"""Table files (CSV, TSV, Parquet): the header, and pandas's read with dlcli's options.

A CSV may be compressed (``.gz``, ``.bz2``, ``.zst``, ``.xz``, or a ``.zip``
holding one file): ``open_text`` reads it for the csv module, pandas infers
the same from the name. The delimiter is ``data.delimiter`` when given, else
the one of ``DELIMITERS`` that splits the header line; a header split by
several is an error naming ``data.delimiter``. ``data.decimal`` is the mark
that cells.py's rule reads numbers with. ``read_frame`` reads the whole table
with pandas; ``table`` checks and encodes the columns (``validate`` reads a
table as ``train`` does, see ``load.probe``).
"""

from __future__ import annotations

import contextlib
import csv as stdcsv
import io
from pathlib import Path

from dlcli import names
from dlcli.data import cells
from dlcli.errors import DataError
from dlcli.log import warn

PARQUET = (".parquet", ".pq")
COMPRESSIONS = (".gz", ".bz2", ".zst", ".xz", ".zip")
DELIMITERS = (",", ";", "\t", "|")


def compression(path: str) -> str | None:
    """The compression suffix of a file name (``.gz`` ...), or None."""
    end = Path(path).suffix.lower()
    return end if end in COMPRESSIONS else None


def suffix(path: str) -> str:
    """The table suffix of a file name, compression aside: ``.csv`` for ``a.csv.gz`` and for a ``.zip``."""
    ends = [s.lower() for s in Path(path).suffixes]
    if ends and ends[-1] == ".zip":
        return ".csv"
    if ends and ends[-1] in COMPRESSIONS:
        ends = ends[:-1]
    return ends[-1] if ends else ""


def is_parquet(path: str) -> bool:
    return suffix(path) in PARQUET


def open_text(path: str):
    """A (possibly compressed) text file opened for the csv module, UTF-8 with or without a BOM."""
    kind = compression(path)
    text = {"newline": "", "encoding": "utf-8-sig"}
    if kind is None:
        return open(path, **text)
    if kind == ".zip":
        import zipfile

        archive = zipfile.ZipFile(path)
        members = [m for m in archive.namelist() if not m.endswith("/")]
        if len(members) != 1:
            raise DataError(f"{path}: a .zip must hold exactly one CSV file; it holds {len(members)}")
        return io.TextIOWrapper(archive.open(members[0]), **text)
    if kind == ".zst":
        import zstandard

        return zstandard.open(path, "rt", **text)
    import bz2
    import gzip
    import lzma

    return {".gz": gzip, ".bz2": bz2, ".xz": lzma}[kind].open(path, "rt", **text)


@contextlib.contextmanager
def opened(path: str):
    """``open_text`` with a missing, undecodable or corrupt file as a one-line DataError."""
    import lzma
    import zipfile

    try:
        with open_text(path) as fh:
            yield fh
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file; save the table as UTF-8 CSV") from None
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable {compression(path) or 'text'} file ({str(exc)[:120]})") from None


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


def header(path: str, delimiter: str | None = None) -> list[str]:
    """Column names, read without loading the table."""
    if is_parquet(path):
        import pyarrow.parquet as pq

        try:
            return [str(c) for c in pq.read_schema(path).names]
        except FileNotFoundError:
            raise DataError(f"{path}: file not found") from None
        except Exception as exc:  # pyarrow raises ArrowInvalid and friends
            raise DataError(f"{path}: not a readable Parquet file ({str(exc)[:120]})") from None
    sep = separator(path, delimiter)
    with opened(path) as fh:
        row = next(stdcsv.reader(fh, delimiter=sep, skipinitialspace=True), None)
    if not row:
        raise DataError(f"{path}: the file is empty; expected a header row and data rows")
    return [c.strip() for c in row]


def located_header(config, path: str) -> list[str]:
    """``header`` with the config's delimiter; two delimiters in the header are an error at ``data.delimiter``."""
    try:
        return header(path, dialect(config.data)["delimiter"])
    except TwoDelimiters as exc:
        raise DataError(f"{config.where(('data', 'delimiter'))}: data.delimiter: {exc}") from None


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


def dialect(data) -> dict:
    """``delimiter`` and ``decimal`` of a ``data:`` section (a source without them: sniffed, and the point)."""
    return {"delimiter": getattr(data, "delimiter", None), "decimal": getattr(data, "decimal", None) or "."}


class OtherDecimalMark(DataError):
    """A number column written with the other decimal mark than the one it is read with."""


def check_decimal(config, path: str, name: str, texts, also: str = "") -> None:
    """A text column whose cells all read as numbers with the other decimal mark is an error naming data.decimal."""
    decimal = getattr(config.data, "decimal", None)
    texts = sorted({str(t) for t in texts})[:10_000]
    if decimal is None or not texts:
        return
    other = "," if decimal == "." else "."
    if all(cells.number(t, other) is not None for t in texts):
        sample = next((t for t in texts if other in t), texts[0])
        mark = "comma" if other == "," else "point"
        raise OtherDecimalMark(
            f"{config.where(('data', 'decimal'))}: data.decimal: column '{name}' of {path} reads as text, but every "
            f'value is a number with a decimal {mark} (e.g. {sample!r}); set data.decimal: "{other}"{also}'
        )


KEEP_AS_CATEGORIES = ", or list the column in data.categorical to keep it as categories"
IDENTIFIER_MIN = 20  # fewer distinct texts than this are categories however few the rows


def check_identifier(config, path: str, name: str, distinct: int, filled: int) -> None:
    """A text column with more distinct values than half its filled rows (names, ids, free text) is refused as a
    feature unless declared categorical or embedded: one-hot over it would learn each row by heart."""
    declared = set(config.data.categorical or ()) | set(config.data.embedding or ())
    if name in declared or distinct < IDENTIFIER_MIN or 2 * distinct <= filled:
        return
    raise DataError(
        f"{config.where(('data',))}: data: column '{name}' of {path} looks like names, ids or free text "
        f"({distinct} distinct values in {filled} rows); leave it out with data.features, or list it in "
        "data.categorical or data.embedding to use it as categories"
    )


def warn_constant(config, path: str, name: str, values) -> None:
    """A feature with one value in every filled row cannot help the model: say so, once, located."""
    shown = next(iter(values))
    warn(
        f"{config.where(('data',))}: data: column '{name}' of {path} holds one value ({shown!r}) in every row; "
        "it cannot help the model (leave it out with data.features)"
    )


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


def read_frame(path: str, usecols: list[str] | None = None, *, delimiter: str | None = None, decimal: str = "."):
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
        options = csv_options(path, delimiter, decimal)
        frame = pd.read_csv(path, skip_blank_lines=False, usecols=usecols, **options)
    frame.columns = [str(c).strip() for c in frame.columns]
    empty = frame.isna().to_numpy()
    blank = empty.all(axis=1)
    if empty.any():
        _check_short_rows(path, options["sep"])  # pandas reads an absent trailing field as an empty one
    if blank.any():
        frame = frame[~blank]
    return frame, ("line", frame.index.to_numpy() + 2)  # file line: 1-based, after the header


def _check_short_rows(path: str, sep: str) -> None:
    """A row with fewer fields than the header is an error, not a row of missing values."""
    width = len(header(path, sep))
    with opened(path) as fh:
        reader = stdcsv.reader(fh, delimiter=sep, skipinitialspace=True)
        next(reader, None)
        for row in reader:
            if row and any(cell.strip() for cell in row) and len(row) < width:
                raise DataError(
                    f"{path}: line {reader.line_num} has {len(row)} field(s) but the header has {width}; "
                    "every row needs the same number of fields as the header"
                )
