"""The reference reader of ``preprocessing.json``: raw table rows in, the exported model's inputs out.

Plain Python and numpy, no dlcli and no TensorFlow: copy this file next to an
exported ONNX or LiteRT model and call ``model_inputs``. ``dlcli export``
runs this very file to check the artefact before it says it succeeded.

The model takes one input per feature column, shape (rows, 1):

- a numeric column as float32, a hole as NaN (the model fills it with the
  training fill, as ``dlcli predict`` does);
- a categorical column as the int32 index of its category: 1 + its position
  in ``vocabulary``, 0 for a category not seen in training. A cell is read
  as a category the way dlcli reads it: stripped of ASCII white space; a hole
  (``missing``, the empty string included) is the category ``missing_as``;
  a number is matched by value to the vocabulary's numbers, so ``3.0`` is
  the category ``3``.

As ``dlcli predict`` does, it refuses (ValueError, naming the row and column)
a hole when the run has no fill (``"holes": false``: trained with
``data.missing: error`` or ``drop``), and a new category when the run says
``"unseen": "error"``.

Example (onnxruntime)::

    import json, onnxruntime, pandas
    from reference import model_inputs
    spec = json.load(open("preprocessing.json"))
    session = onnxruntime.InferenceSession("model.onnx")
    outputs = session.run(None, model_inputs(spec, pandas.read_csv("new.csv", dtype=str)))
"""

from __future__ import annotations

import math
import re

import numpy as np

ASCII_SPACE = " \t\n\v\f\r"  # what TensorFlow's string strip removes


def model_inputs(spec: dict, rows) -> dict[str, np.ndarray]:
    """{input name: (n, 1) array} for the model, from ``rows``: a mapping (or DataFrame) column -> cells."""
    out = {}
    rules = spec["cells"]
    for entry in spec["inputs"]:
        column = entry["column"]
        cells = list(rows[column])
        if entry["kind"] == "category":
            index = {name: i + 1 for i, name in enumerate(entry["vocabulary"])}
            names = [category(cell, rules, entry["number_values"], entry["number_names"]) for cell in cells]
            if not spec["holes"]:
                _refuse(column, [n == rules["missing_as"] for n in names], "a hole, and the run has no fill")
            if spec["unseen"] == "error":
                new = [n not in index and n != rules["missing_as"] for n in names]
                _refuse(column, new, "a category not seen in training (unseen: error)")
            values = [index.get(name, entry["unknown_index"]) for name in names]
            out[entry["name"]] = np.array(values, dtype=np.int32).reshape(-1, 1)
        else:
            values = np.array([number(cell, rules) for cell in cells], dtype=np.float32)
            if not spec["holes"]:
                _refuse(column, np.isnan(values).tolist(), "a hole, and the run has no fill")
            out[entry["name"]] = values.reshape(-1, 1)
    return out


def _refuse(column: str, bad: list, what: str) -> None:
    if any(bad):
        rows = [i for i, b in enumerate(bad) if b]
        raise ValueError(f"column {column!r}, row {rows[0]}: {what} ({len(rows)} row(s) like it)")


def number(cell, rules: dict) -> float:
    """A numeric cell as a float; a hole (None, NaN or a ``missing`` text) as NaN; ``true``/``false`` as 1/0."""
    if cell is None:
        return math.nan
    if isinstance(cell, bytes):
        cell = cell.decode("utf-8")
    if not isinstance(cell, str):
        return float(cell)
    text = cell.strip(ASCII_SPACE)
    if text in rules["missing"]:
        return math.nan
    if text.lower() in rules["booleans"]:
        return float(rules["booleans"][text.lower()])
    if "_" in text:  # Python reads 1_000 as a number; dlcli does not
        raise ValueError(f"{cell!r} is not a number")
    return float(text)


def category(cell, rules: dict, values, names) -> str:
    """A cell as dlcli's category: stripped, a hole as ``missing_as``, a number by value among ``values``."""
    if cell is None or (isinstance(cell, (float, np.floating)) and math.isnan(cell)):
        return rules["missing_as"]
    if isinstance(cell, bytes):
        cell = cell.decode("utf-8")
    text = str(cell).strip(ASCII_SPACE)
    if text in rules["missing"]:
        return rules["missing_as"]
    if values and re.fullmatch(rules["number"], text):
        value = float(text)
        for known, name in zip(values, names, strict=True):
            if value == known:
                return name
    return text
