"""JSON rows to a model's in-memory features, cell by cell and without pandas, so a one-row request costs microseconds.

The twin of ``newrows.check`` for rows that arrive as JSON: the same rule for
a cell (``dlcli.data.cells``), the same checks in the same order (number
columns first, then categorical ones), the same fill and the same in-memory
features (``dlcli.data.features``), so the server predicts what ``dlcli
predict`` and ``Predictor.frame`` predict. JSON carries types: a number is a
number, ``null`` is a hole, ``true``/``false`` are 1/0 in a number column, and
text is read as a CSV cell is (``"12.5"``, ``"NA"``). Stricter in two ways: a
row must name every feature column (``null`` for a hole), and a list or an
object is never a cell. Every bad row is reported, by index and column.

An array model (trained on .npz/.npy or scikit-learn arrays) takes each row as
a list of numbers: flat, or nested in the shape it was trained on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from dlcli.data import cells
from dlcli.data.features import FEATURES, NUMERIC, InputSchema
from dlcli.data.newrows import FLOAT32_MAX, too_big
from dlcli.data.prepare import fill

MISSING_KEY = "missing: every row names every feature column (null for a missing value)"


@dataclass(frozen=True)
class Problem:
    """Why row ``row`` (None: the whole body) cannot be predicted, and the column at fault (None: the row itself)."""

    row: int | None
    column: str | None
    message: str

    def where(self) -> str:
        place = [f"row {self.row}"] if self.row is not None else []
        if self.column is not None:
            place.append(f"column {self.column!r}")
        return ", ".join(place)


class BadRows(ValueError):
    """Rows that cannot be predicted: every problem, one per bad row."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        first = problems[0]
        more = f" ({len(problems) - 1} more bad row(s))" if len(problems) > 1 else ""
        super().__init__(f"{first.where()}: {first.message}{more}" if first.where() else first.message + more)


class _Bad(Exception):
    def __init__(self, column, message: str):
        self.column = column
        self.message = message


def shown(value) -> str:
    """A JSON value as it was sent, shortened for a message."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def features(rows: list, schema: InputSchema):
    """The in-memory features of ``rows`` (JSON row objects, or lists for an array model); ``BadRows`` otherwise."""
    if not schema.features:
        return _arrays(rows, schema)
    numeric_columns = schema.numeric_columns
    n = len(rows)
    numbers = np.empty((n, len(numeric_columns)), dtype=np.float32)
    cats = {column: np.empty(n, dtype=object) for column in schema.categorical}
    vocab = {column: set(values) for column, values in schema.vocab.items()} if schema.unseen == "error" else None
    problems = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            problems.append(Problem(i, None, f"a row is an object of column: value pairs; got {shown(row)}"))
            continue
        try:
            for j, column in enumerate(numeric_columns):
                numbers[i, j] = _number(row, column, schema)
            for column, out in cats.items():
                out[i] = _category(row, column, schema, vocab)
        except _Bad as bad:
            problems.append(Problem(i, bad.column, bad.message))
    if problems:
        raise BadRows(problems)
    # fill cannot reshape an empty array; a model that flags holes fills them itself
    x = fill(numbers, schema.fill) if n and not schema.indicators else numbers
    return {NUMERIC: x, **cats} if cats else x


def _cell(row: dict, column: str):
    try:
        return row[column]
    except KeyError:
        raise _Bad(column, MISSING_KEY) from None


def _hole(column: str, schema: InputSchema) -> float:
    if schema.fill is None:
        raise _Bad(column, "missing value, and the model has no fill for one (it was trained with data.missing: error)")
    return math.nan


def _number(row: dict, column: str, schema: InputSchema) -> float:
    value = _cell(row, column)
    if value is None:
        return _hole(column, schema)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer with hundreds of digits
            number = math.copysign(math.inf, value)
        if math.isnan(number):  # Python's json module reads the NaN token
            return _hole(column, schema)
    elif isinstance(value, str):
        if cells.is_missing(value):
            return _hole(column, schema)
        number = cells.number(value)
        if number is None:
            raise _Bad(column, f"{value.strip()!r} is not a number")
    else:
        raise _Bad(column, f"{shown(value)} is not a number")
    if math.isinf(number):
        raise _Bad(column, f"{number} is not a finite number")
    if abs(number) > FLOAT32_MAX:
        raise _Bad(column, too_big(number))
    return number


def _category(row: dict, column: str, schema: InputSchema, vocab: dict | None) -> str:
    value = _cell(row, column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        category = cells.MISSING_CATEGORY
    elif isinstance(value, str):
        category = cells.text_category(value)
    elif isinstance(value, bool):
        category = str(value)  # as pandas writes a true/false column
    elif isinstance(value, (int, float)):
        try:
            category = cells.category(float(value))
        except OverflowError:
            category = cells.text_category(str(value))
    else:
        raise _Bad(column, f"{shown(value)} is not a category (text or a number)")
    if category == cells.MISSING_CATEGORY:
        _hole(column, schema)
    elif vocab is not None and category not in vocab[column]:
        raise _Bad(column, f"category {category!r} was not seen in training (data.unseen: error)")
    return category


def _arrays(rows: list, schema: InputSchema) -> np.ndarray:
    shape = tuple(schema.input_shape)
    size = math.prod(shape)
    out = np.empty((len(rows), size), dtype=np.float32)
    problems = []
    for i, row in enumerate(rows):
        try:
            out[i] = _array_row(row, shape, size)
        except _Bad as bad:
            problems.append(Problem(i, bad.column, bad.message))
    if problems:
        raise BadRows(problems)
    return out.reshape((len(rows), *shape))


def _array_row(row, shape: tuple, size: int) -> list[float]:
    if not isinstance(row, list):
        raise _Bad(None, f"a row of this model is a list of {size} numbers; got {shown(row)}")
    try:
        values = np.asarray(row, dtype=object)
    except ValueError:
        raise _Bad(None, "a row's nested lists have different lengths") from None
    if values.shape not in (shape, (size,)):
        raise _Bad(None, f"a row of this model is {size} numbers (shape {list(shape)}); got shape {list(values.shape)}")
    flat = values.reshape(-1).tolist()
    for j, value in enumerate(flat):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Bad(None, f"position {j}: {shown(value)} is not a number")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
            raise _Bad(None, f"position {j}: {value} is not a finite float32 number")
    return flat


def instance_rows(instances: list, schema: InputSchema) -> list:
    """TF Serving's row format (one object per instance, keyed by the model's input names) as rows."""
    if not schema.features:
        return [instance.get(FEATURES) if isinstance(instance, dict) else instance for instance in instances]
    names = input_names(schema)
    return [
        {names.get(key, key): _scalar(value) for key, value in instance.items()}
        if isinstance(instance, dict)
        else instance
        for instance in instances
    ]


def columnar_rows(inputs, schema: InputSchema) -> list:
    """TF Serving's columnar format (input name -> values of every row) as rows; ``BadRows`` when it does not fit."""
    if not schema.features:
        if isinstance(inputs, dict):
            if set(inputs) != {FEATURES}:
                raise BadRows(
                    [Problem(None, None, f"'inputs' of this model is a list of rows, or {{{FEATURES!r}: rows}}")]
                )
            inputs = inputs[FEATURES]
        if not isinstance(inputs, list):
            raise BadRows([Problem(None, None, "'inputs' of this model is a list of rows (lists of numbers)")])
        return inputs
    if not isinstance(inputs, dict):
        raise BadRows([Problem(None, None, "'inputs' is an object: input name -> a list with one value per row")])
    names = input_names(schema)
    columns = {names.get(name, name): values for name, values in inputs.items()}
    columns = {c: columns[c] for c in schema.features if c in columns}  # other inputs are ignored, as columns are
    lengths = {name: len(values) for name, values in columns.items() if isinstance(values, list)}
    problems = [Problem(None, name, "a list with one value per row") for name in columns if name not in lengths]
    problems += [Problem(None, c, MISSING_KEY) for c in schema.features if c not in columns]
    if not problems and len(set(lengths.values())) > 1:
        problems.append(Problem(None, None, f"every input has one value per row; got lengths {lengths}"))
    if problems:
        raise BadRows(problems)
    n = next(iter(lengths.values()), 0)
    return [{c: _scalar(columns[c][i]) for c in schema.features} for i in range(n)]


def input_names(schema: InputSchema) -> dict[str, str]:
    """The saved model's input name -> its column (the names TF Serving keys an exported model's inputs by)."""
    return {name: column for column, name in (schema.columns or {}).items()}


def _scalar(value):
    """A value given as a one-element list (TF Serving's shape for a (1,) input) as the value itself."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value
