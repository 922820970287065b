"""The one rule for reading a table cell: missing, a number, or text.

A cell is read stripped of surrounding spaces. It is **missing** when it is
one of ``MISSING_TEXT`` (the empty string included). Otherwise it is a
**number** when Python's ``float`` reads it, or when it is ``true``/``false``
in any case (1 and 0); anything else is **text**. With the decimal comma
(``data.decimal: ","``) a comma takes the point's place (``49,1`` is 49.1) and
a cell holding a point is text. The rule has three
implementations, one per engine, kept side by side here and tested to agree:
``number`` for one cell (probing a file with the csv module), ``numbers`` for
a pandas column, and ``tf_numbers`` for a ``tf.string`` tensor (streaming).

A **category** is the stripped cell, a hole being the category
``MISSING_CATEGORY``; a category that is a number is written as that number
(``3``, ``3.0`` and ``3.00`` are the category ``3``; ``2.50`` is ``2.5``).
``categories`` applies it to a pandas column (training and predicting from
files), ``text_category`` to one cell (JSON rows sent to ``dlcli serve``),
``tf_categories`` to a ``tf.string`` tensor (inside a saved model and in
streamed data), where a number is matched by value to the training vocabulary.
"""

from __future__ import annotations

import re

import numpy as np

# pandas's own "<NA>" is what astype(str) makes of a hole in a nullable column.
MISSING_TEXT = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?", "<NA>")
BOOLEANS = {"true": "1", "false": "0"}
MISSING_CATEGORY = "(missing)"
# A number as a category may be written: digits with an optional point and exponent (no words such as "inf").
NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_NUMBER = re.compile(NUMBER)


def is_missing(cell: str) -> bool:
    """Is this cell a hole?"""
    return cell.strip() in MISSING_TEXT


def number(cell: str, decimal: str = ".") -> float | None:
    """The number a (non-missing) cell holds, or None when it is text."""
    text = cell.strip()
    text = BOOLEANS.get(text.lower(), text)
    if decimal == ",":
        if "." in text:
            return None
        text = text.replace(",", ".")
    if "_" in text:  # Python reads 1_000 as a number; pandas and TensorFlow do not
        return None
    try:
        return float(text)
    except ValueError:
        return None


def numbers(column, decimal: str = "."):
    """(float64 numbers with NaN where a cell is text or missing, the stripped text) of a pandas object column."""
    import pandas as pd

    text = column.astype(str).str.strip()
    lowered = text.str.lower()
    as_read = text.where(~lowered.isin(list(BOOLEANS)), lowered.map(BOOLEANS))
    if decimal == ",":
        as_read = as_read.where(~as_read.str.contains(".", regex=False), "x").str.replace(",", ".", regex=False)
    return pd.to_numeric(as_read, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan), text


def tf_numbers(tf, cells, fill: float, decimal: str = "."):
    """A ``tf.string`` tensor of cells as float32, missing cells replaced by ``fill``."""
    text = tf.strings.strip(cells)
    lowered = tf.strings.lower(text)
    for word, value in BOOLEANS.items():
        text = tf.where(tf.equal(lowered, word), value, text)
    if decimal == ",":  # the checking pass has refused a cell with a point
        text = tf.strings.regex_replace(text, ",", ".")
    hole = tf_is_missing(tf, text)
    value = tf.strings.to_number(tf.where(hole, "0", text), tf.float32)
    return tf.where(hole, tf.constant(fill, tf.float32), value)


def tf_is_missing(tf, text):
    """Which cells of a stripped ``tf.string`` vector are holes."""
    return tf.reduce_any(tf.equal(tf.expand_dims(text, 1), tf.constant(list(MISSING_TEXT))), axis=1)


def typed(values: np.ndarray, decimal: str = ".") -> np.ndarray:
    """Distinct non-missing cells as a column pandas would type: whole numbers, else floats, else the text."""
    if decimal == "," and all(number(str(v), ",") is not None for v in values):
        values = np.array([str(v).replace(",", ".") for v in values], dtype=object)
    for kind in (int, float):
        try:
            return np.array([kind(v) for v in values])
        except (ValueError, TypeError):
            continue
    return values.astype(str)


def category(value: float) -> str:
    """A number as a category: a whole number without a point, else Python's shortest form."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**63 else repr(float(value))


def text_category(cell: str) -> str:
    """One text cell as a category: ``categories`` for a single cell (serving JSON rows without pandas)."""
    text = cell.strip()
    if text in MISSING_TEXT:
        return MISSING_CATEGORY
    return category(float(text)) if _NUMBER.fullmatch(text) else text


def categories(column) -> np.ndarray:
    """A pandas column as categories (str), holes as ``MISSING_CATEGORY``."""
    import pandas as pd

    empty = column.isna().to_numpy()
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        stripped = column.astype(str).str.strip()
        text = stripped.to_numpy(dtype=object)
        numbers = stripped.str.fullmatch(NUMBER).to_numpy(dtype=bool, na_value=False) & ~empty
    else:
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        text = np.full(len(values), "", dtype=object)
        numbers = ~empty
        text[numbers] = values[numbers]
    if numbers.any():
        distinct, at = np.unique(text[numbers].astype(str), return_inverse=True)
        text[numbers] = np.array([category(float(v)) for v in distinct], dtype=object)[at]
    text[empty | np.isin(text, MISSING_TEXT)] = MISSING_CATEGORY
    return text.astype(str)


def number_categories(vocabulary) -> tuple[list[float], list[str]]:
    """The categories of a vocabulary that are numbers, as (values, names): what ``tf_categories`` matches."""
    found = [(float(name), name) for name in vocabulary if _NUMBER.fullmatch(name)]
    return [v for v, _ in found], [n for _, n in found]


def tf_categories(tf, cells, values=(), names=(), missing=MISSING_TEXT, missing_as=MISSING_CATEGORY):
    """``categories`` on a ``tf.string`` tensor: a number is matched by value among ``values`` (named ``names``)."""
    text = tf.strings.strip(cells)
    hole = tf.reduce_any(tf.equal(tf.expand_dims(text, -1), tf.constant(list(missing), tf.string)), axis=-1)
    out = tf.where(hole, tf.constant(missing_as), text)
    if not values:
        return out
    is_number = tf.strings.regex_full_match(text, NUMBER)
    value = tf.strings.to_number(tf.where(is_number, text, "0"), tf.float64)
    same = tf.equal(tf.expand_dims(value, -1), tf.constant(list(values), tf.float64)) & tf.expand_dims(is_number, -1)
    named = tf.gather(tf.constant(list(names), tf.string), tf.argmax(tf.cast(same, tf.int32), axis=-1))
    return tf.where(tf.reduce_any(same, axis=-1) & ~hole, named, out)
