"""The recommended tabular network: what a config gets for each key it leaves out, when it leaves out the layers.

A config that spells out its network (``model.layers``) trains exactly that
network, with Keras's meanings and dlcli's classic defaults (Adam at 1e-3, 20
epochs of 32, standard scaling, no early stopping, an unscaled target). One
that leaves the layers out gets this recipe instead, each value only where
its key is left out, so ``data:`` alone trains it and any key given wins.
Every value was earned on ``benchmarks/quality.py`` (README "Model quality"):

- on a table, numbers scaled robustly (median, interquartile range, smooth
  clip) and embedded periodically (PLR); holes filled with the training median;
- three hidden layers of 256 with ReLU and dropout 0.1, on a table as a
  parameter-efficient ensemble of 8 members (TabM-mini);
- AdamW with weight decay, early stopping on the validation loss with the
  best epoch's weights restored, a batch size from the number of rows; a
  regression target standardized inside the model.

The resolved config spells every value out (``config.yaml``), so training it
again repeats the run with no recipe involved.
"""

from __future__ import annotations

import math

LAYERS = tuple({"units": 256, "activation": "relu", "dropout": 0.1} for _ in range(3))
NUMERIC_EMBEDDING = {"type": "periodic", "frequencies": 24, "dim": 16, "sigma": [0.05, 2.0]}
ENSEMBLE = {"members": 8}
OPTIMIZER = {"name": "adamw", "learning_rate": 0.001, "weight_decay": 0.0001}
MAX_EPOCHS = 100
PATIENCE = 16  # as Gorishniy et al.'s MLP baseline
BATCH = (32, 256)  # batch sizes from the number of rows: at least 32, at most 256
ROWS_PER_STEP = 40  # batch = rows / 40, rounded to a power of 2, within BATCH
MISSING = "median"


def recommended(config) -> bool:
    """Does ``config`` leave its network to dlcli (no ``model.layers``)?"""
    return "layers" not in config.model.model_fields_set


def missing(config) -> str:
    """What ``data.missing: auto`` is: holes filled with the training median for the recommended network (a
    note says so), an error for a network spelled out (as dlcli has always done)."""
    return MISSING if recommended(config) else "error"


def batch_size(rows: int | None) -> int:
    """A batch size for data of ``rows`` rows (every split): rows / 40 rounded to a power of two, between 32 and 256."""
    low, high = BATCH
    if not rows:
        return low
    return int(min(high, max(low, 2 ** round(math.log2(max(rows / ROWS_PER_STEP, 1))))))


def is_table(config) -> bool:
    return "target" in type(config.data).model_fields
