"""The one rule for reading a table cell: missing, a number, or text.

A cell is read stripped of surrounding spaces. It is **missing** when it is
one of ``MISSING_TEXT`` (the empty string included). Otherwise it is a
**number** when Python's ``float`` reads it, or when it is ``true``/``false``
in any case (1 and 0); anything else is **text**. The rule has three
implementations, one per engine, kept side by side here and tested to agree:
``number`` for one cell (probing a file with the csv module), ``numbers`` for
a pandas column, and ``tf_numbers`` for a ``tf.string`` tensor (streaming).
"""

from __future__ import annotations

import numpy as np

MISSING_TEXT = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?")
BOOLEANS = {"true": "1", "false": "0"}


def is_missing(cell: str) -> bool:
    """Is this cell a hole?"""
    return cell.strip() in MISSING_TEXT


def number(cell: str) -> float | None:
    """The number a (non-missing) cell holds, or None when it is text."""
    text = cell.strip()
    text = BOOLEANS.get(text.lower(), text)
    if "_" in text:  # Python reads 1_000 as a number; pandas and TensorFlow do not
        return None
    try:
        return float(text)
    except ValueError:
        return None


def numbers(column):
    """(float64 numbers with NaN where a cell is text or missing, the stripped text) of a pandas object column."""
    import pandas as pd

    text = column.astype(str).str.strip()
    lowered = text.str.lower()
    as_read = text.where(~lowered.isin(list(BOOLEANS)), lowered.map(BOOLEANS))
    return pd.to_numeric(as_read, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan), text


def tf_numbers(tf, cells, fill: float):
    """A ``tf.string`` tensor of cells as float32, missing cells replaced by ``fill``."""
    text = tf.strings.strip(cells)
    lowered = tf.strings.lower(text)
    for word, value in BOOLEANS.items():
        text = tf.where(tf.equal(lowered, word), value, text)
    hole = tf_is_missing(tf, text)
    value = tf.strings.to_number(tf.where(hole, "0", text), tf.float32)
    return tf.where(hole, tf.constant(fill, tf.float32), value)


def tf_is_missing(tf, text):
    """Which cells of a stripped ``tf.string`` vector are holes."""
    return tf.reduce_any(tf.equal(tf.expand_dims(text, 1), tf.constant(list(MISSING_TEXT))), axis=1)


def typed(values: np.ndarray) -> np.ndarray:
    """Distinct non-missing cells as a column pandas would type: whole numbers, else floats, else the text."""
    for kind in (int, float):
        try:
            return np.array([kind(v) for v in values])
        except (ValueError, TypeError):
            continue
    return values.astype(str)
