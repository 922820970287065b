"""The one rule for a table cell (missing, a number, or text), and its three implementations agreeing:
one cell (probing with the csv module), a pandas column (reading in memory), a tf.string tensor (streaming)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dlcli.data import cells

# cell -> what it reads as: None (missing), a float, or "text"
CASES = {
    "1": 1.0, " 2.5 ": 2.5, "-3e2": -300.0, "true": 1.0, "False": 0.0, " TRUE ": 1.0, "0": 0.0,
    "": None, "NA": None, " N/A ": None, "nan": None, "NaN": None, "null": None, "None": None, "?": None,
    "abc": "text", "1_000": "text", "1,5": "text", "yes": "text", "3 4": "text",
}  # fmt: skip


@pytest.mark.parametrize(("cell", "expected"), CASES.items())
def test_one_cell(cell, expected):
    if expected is None:
        assert cells.is_missing(cell)
    else:
        assert not cells.is_missing(cell)
        assert cells.number(cell) == (None if expected == "text" else expected)


def test_a_pandas_column_reads_every_filled_cell_as_one_cell_does():
    filled = {c: v for c, v in CASES.items() if v is not None}
    values, text = cells.numbers(pd.Series(list(filled), dtype=object))
    for (cell, expected), got, shown in zip(filled.items(), values, text, strict=True):
        assert math.isnan(got) if expected == "text" else got == expected, cell
        assert shown == cell.strip()


def test_a_tf_string_tensor_reads_every_cell_as_one_cell_does():
    import tensorflow as tf

    numeric = {c: v for c, v in CASES.items() if v != "text"}
    got = cells.tf_numbers(tf, tf.constant(list(numeric)), fill=-7.0).numpy()
    want = np.array([-7.0 if v is None else v for v in numeric.values()], dtype=np.float32)
    np.testing.assert_array_equal(got, want)
    missing = cells.tf_is_missing(tf, tf.strings.strip(tf.constant(list(CASES)))).numpy()
    assert missing.tolist() == [v is None for v in CASES.values()]


# the same rule with data.decimal: ","
COMMA_CASES = {
    "49,1": 49.1, " -2,5 ": -2.5, "3": 3.0, "1,5e2": 150.0, "true": 1.0, "": None, "NA": None,
    "49.1": "text", "1.234,5": "text", "1,2,3": "text", "abc": "text",
}  # fmt: skip


@pytest.mark.parametrize(("cell", "expected"), COMMA_CASES.items())
def test_one_cell_with_a_decimal_comma(cell, expected):
    if expected is None:
        assert cells.is_missing(cell)
    else:
        assert cells.number(cell, ",") == (None if expected == "text" else expected)


def test_the_three_engines_agree_on_a_decimal_comma():
    import tensorflow as tf

    filled = {c: v for c, v in COMMA_CASES.items() if v is not None}
    values, _ = cells.numbers(pd.Series(list(filled), dtype=object), ",")
    for (cell, expected), got in zip(filled.items(), values, strict=True):
        assert math.isnan(got) if expected == "text" else got == expected, cell
    numeric = {c: v for c, v in COMMA_CASES.items() if v != "text"}  # the stream sees only cells the pass checked
    got = cells.tf_numbers(tf, tf.constant(list(numeric)), fill=-7.0, decimal=",").numpy()
    want = np.array([-7.0 if v is None else v for v in numeric.values()], dtype=np.float32)
    np.testing.assert_array_equal(got, want)


def test_typed_reads_a_column_as_pandas_types_it():
    assert cells.typed(np.array(["2", "10"], dtype=object)).tolist() == [2, 10]
    assert cells.typed(np.array(["2", "1.5"], dtype=object)).tolist() == [2.0, 1.5]
    assert cells.typed(np.array(["a", "1"], dtype=object)).tolist() == ["a", "1"]


def test_categories_read_the_same_in_pandas_and_inside_the_model():
    """3, 3.0 and ' 3.00 ' are the category 3; holes (as astype(str) writes them) are one category."""
    import pandas as pd
    import tensorflow as tf

    from dlcli.data import cells

    column = pd.Series([" 3.00 ", "3", "3.0", "2.50", "abc ", "nan", "None", "", "<NA>", None, "1e3", "-0", "True"])
    expected = ["3", "3", "3", "2.5", "abc", *[cells.MISSING_CATEGORY] * 5, "1000", "0", "True"]
    assert cells.categories(column).tolist() == expected
    values, names = cells.number_categories(["3", "2.5", "abc", "1000", "0"])
    cells_in = tf.constant(column.fillna("").astype(str).tolist())
    inside = [v.decode() for v in cells.tf_categories(tf, cells_in, values, names).numpy()]
    assert inside == expected
    assert cells.categories(pd.Series([3.0, float("nan"), 2.5])).tolist() == ["3", cells.MISSING_CATEGORY, "2.5"]


def test_one_text_cell_is_the_category_a_pandas_column_makes_of_it():
    """``text_category`` (JSON rows sent to dlcli serve) and ``categories`` (a DataFrame) agree, cell by cell."""
    cases = [" lille ", "3", "3.0", " 3.00 ", "2.50", "-0", "+4", "1e3", "NA", "", " ? ", "null", "abc", "True", "inf"]
    expected = cells.categories(pd.Series(cases, dtype=object)).tolist()
    assert [cells.text_category(c) for c in cases] == expected
    assert expected[:8] == ["lille", "3", "3", "3", "2.5", "0", "4", "1000"]
