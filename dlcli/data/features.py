"""The model's input signature: its named inputs (numeric and categorical) and how arrays become them.

In-memory features are a float array, or, when a table has categorical
columns, a dict ``{"numeric": float32 (n, k), column: str (n,), ...}``. The
model that trains takes one numeric input named ``numeric`` (``features`` for
a model without categorical columns) and one string input per categorical
column. The model a run saves for a table takes the raw columns instead, one
named input per feature column (``column_inputs`` names them), and feeds the
trained one (``model.columns``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

NUMERIC = "numeric"  # the numeric input of a model that also has categorical inputs
FEATURES = "features"  # the one input of a model without categorical columns


def input_name(column: str) -> str:
    """A Keras-safe input name for a categorical column."""
    return "cat_" + re.sub(r"\W", "_", column)


def column_inputs(features: list[str]) -> dict[str, str]:
    """Feature column -> the name of its input in the saved model: the column's own name where it is a safe one.

    A safe name is what Keras, SavedModel signatures and TF Serving all take
    (a letter, then letters, digits, ``_ . -``); another name has every other
    run of characters replaced by ``_`` (``sepal length (cm)`` -> ``sepal_length_cm``).
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for column in features:
        name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", str(column)).strip("_") or "column"
        if not name[0].isalpha():
            name = "c_" + name
        unique, n = name, 2
        while unique.lower() in taken:
            unique, n = f"{name}_{n}", n + 1
        taken.add(unique.lower())
        names[column] = unique
    return names


@dataclass(frozen=True)
class InputSchema:
    """What a trained model takes, as recorded in its run directory: enough to read new rows for it."""

    input_shape: tuple[int, ...]  # of the numeric input
    features: list[str] | None = None  # table columns, in training order (None: arrays)
    vocab: dict[str, list[str]] = field(default_factory=dict)  # categorical column -> categories in training
    fill: list[float] | None = None  # per numeric feature: the value for a missing cell
    target: str | None = None
    unseen: str = "oov"
    columns: dict[str, str] | None = None  # feature column -> input name, when the saved model takes raw columns
    indicators: tuple[int, ...] = ()  # numeric columns whose holes the model flags itself (data.missing_indicators)

    @property
    def categorical(self) -> list[str]:
        return list(self.vocab)

    @classmethod
    def of_run(cls, data_facts: dict, data_config) -> InputSchema:
        """From environment.json's ``data`` and the run's ``data:`` config."""
        return cls(
            input_shape=tuple(data_facts.get("input_shape") or ()),
            features=data_facts.get("features"),
            vocab=data_facts.get("vocab") or {},
            fill=data_facts.get("fill"),
            target=getattr(data_config, "target", None),
            unseen=getattr(data_config, "unseen", "oov"),
            columns=data_facts.get("inputs"),
            indicators=tuple(data_facts.get("indicators") or ()),
        )

    @property
    def numeric_columns(self) -> list[str]:
        return [c for c in self.features or () if c not in self.vocab]


def numeric(x):
    """The numeric feature array of ``x``."""
    return x[NUMERIC] if isinstance(x, dict) else x


def with_numeric(x, values):
    """``x`` with its numeric part replaced by ``values``."""
    return {**x, NUMERIC: values} if isinstance(x, dict) else values


def take(x, index):
    """Rows ``index`` of ``x``."""
    return {k: v[index] for k, v in x.items()} if isinstance(x, dict) else x[index]


def rows(x) -> int:
    return len(numeric(x))


def model_inputs(x, schema: InputSchema | None = None):
    """Arrays as the model takes them: categorical columns as (n, 1) string tensors.

    Keras's array adapter refuses numpy string and object arrays; a
    ``tf.string`` tensor is what its ``StringLookup`` inputs accept. With the
    ``schema`` of a run whose saved model takes raw columns, one (n, 1) input
    per column, keyed by its input name.
    """
    if schema is not None and schema.columns:
        return column_arrays(x, schema)
    if not isinstance(x, dict):
        return x
    import tensorflow as tf

    out = {}
    for key, values in x.items():
        if key != NUMERIC:
            out[input_name(key)] = tf.constant(np.asarray(values, dtype=object).reshape(-1, 1), dtype=tf.string)
        elif math.prod(values.shape[1:]):
            out[key] = values
    return out


def column_arrays(x, schema: InputSchema) -> dict:
    """In-memory features as the raw-column model takes them: {input name: (n, 1) float32 or tf.string}."""
    import tensorflow as tf

    values = numeric(x)
    values = values.reshape(len(values), -1)
    out = {}
    for name, column, j in _column_layout(schema):
        if j is None:
            out[name] = tf.constant(np.asarray(x[column], dtype=object).reshape(-1, 1), dtype=tf.string)
        else:
            out[name] = np.ascontiguousarray(values[:, j : j + 1], dtype=np.float32)
    return out


def tf_column_inputs(x, schema: InputSchema):
    """``column_arrays`` on the tensors of a streamed split (inside ``Dataset.map``)."""
    import tensorflow as tf

    values = x[NUMERIC] if isinstance(x, dict) else x
    return {
        name: x[input_name(column)] if j is None else tf.cast(values[:, j : j + 1], tf.float32)
        for name, column, j in _column_layout(schema)
    }


def _column_layout(schema: InputSchema):
    """(input name, column, its index among the numeric features or None for a categorical one), in feature order."""
    j = 0
    for column in schema.features:
        if column in schema.vocab:
            yield schema.columns[column], column, None
        else:
            yield schema.columns[column], column, j
            j += 1
