"""The model's input signature: its named inputs (numeric and categorical) and how arrays become them.

In-memory features are a float array, or, when a table has categorical
columns, a dict ``{"numeric": float32 (n, k), column: str (n,), ...}``. The
model takes one numeric input named ``numeric`` (``features`` for a model
without categorical columns) and one string input per categorical column.
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


@dataclass(frozen=True)
class InputSchema:
    """What a trained model takes, as recorded in its run directory: enough to read new rows for it."""

    input_shape: tuple[int, ...]  # of the numeric input
    features: list[str] | None = None  # table columns, in training order (None: arrays)
    vocab: dict[str, list[str]] = field(default_factory=dict)  # categorical column -> categories in training
    fill: list[float] | None = None  # per numeric feature: the value for a missing cell
    target: str | None = None
    unseen: str = "oov"

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
        )


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


def model_inputs(x):
    """Arrays as the model takes them: categorical columns as (n, 1) string tensors.

    Keras's array adapter refuses numpy string and object arrays; a
    ``tf.string`` tensor is what its ``StringLookup`` inputs accept.
    """
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
