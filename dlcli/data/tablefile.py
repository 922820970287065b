"""Tables, whatever their format: the header and the frame read through the format registry (``formats``), the
columns a config takes from them, and the checks every table gets (decimal mark, identifiers, constant columns).

``validate`` reads a table as ``train`` does (see ``load.probe``); ``table`` checks and encodes the columns.
"""

from __future__ import annotations

from types import ModuleType

from dlcli import names
from dlcli.data import cells, formats
from dlcli.data.formats.csv import TwoDelimiters
from dlcli.data.formats.files import compression, opened, suffix
from dlcli.errors import DataError
from dlcli.log import warn

__all__ = ["compression", "opened", "suffix", "TwoDelimiters"]


def format_of(path: str, source: str | None = None) -> ModuleType:
    """The table format that reads ``path``: by its suffix (compression aside), else ``source``'s, else CSV."""
    found = formats.of_suffix(suffix(str(path)), default=None)
    if found is not None:
        return found
    return formats.FORMATS.get(source or "", formats.FORMATS[formats.DEFAULT])


def header(path: str, delimiter: str | None = None, *, source: str | None = None) -> list[str]:
    """Column names, read without loading the table."""
    return format_of(path, source).header(path, {"delimiter": delimiter})


def read_frame(path: str, usecols: list[str] | None = None, *, delimiter: str | None = None, decimal: str = ".",
               source: str | None = None):  # fmt: skip
    """(frame, (``"line"`` or ``"row"``, a label per row for messages)): pandas's typing of the format's cells,
    missing cells NaN or None, blank lines dropped."""
    return format_of(path, source).read_frame(path, usecols, {"delimiter": delimiter, "decimal": decimal})


def located_header(config, path: str) -> list[str]:
    """``header`` with the config's delimiter; two delimiters in the header are an error at ``data.delimiter``."""
    try:
        return header(path, dialect(config.data)["delimiter"], source=config.data.source)
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
    left_out = getattr(data, "exclude", None) or []
    absent = [c for c in left_out if c not in head]
    if absent:
        raise DataError(
            f"{where(('data', 'exclude'))}: data.exclude: no column '{absent[0]}' in {path}"
            f"{names.did_you_mean(absent[0], head)}; columns: {', '.join(head)}"
        )
    if data.target in left_out:
        raise DataError(
            f"{where(('data', 'exclude'))}: data.exclude: '{data.target}' is the target (data.target), never a "
            "feature; remove it from data.exclude"
        )
    if data.features is None:
        features = [c for c in head if c != data.target and c not in left_out]
    else:
        features = list(data.features)
    missing = [f for f in features if f not in head]
    if missing:
        raise DataError(
            f"{where(('data', 'features'))}: data.features: no column '{missing[0]}' in {path}"
            f"{names.did_you_mean(missing[0], head)}; columns: {', '.join(head)}"
        )
    if not features:
        excluded = " and the columns in data.exclude" if left_out else ""
        raise DataError(f"{path}: no feature columns besides the target '{data.target}'{excluded}")
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
        f"({distinct} distinct values in {filled} rows); leave it out with data.exclude: [{name}] (or data.features), "
        "or list it in data.categorical or data.embedding to use it as categories"
    )


def warn_constant(config, path: str, name: str, values) -> None:
    """A feature with one value in every filled row cannot help the model: say so, once, located."""
    shown = next(iter(values))
    warn(
        f"{config.where(('data',))}: data: column '{name}' of {path} holds one value ({shown!r}) in every row; "
        f"it cannot help the model (leave it out with data.exclude: [{name}])"
    )
