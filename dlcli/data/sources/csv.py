"""``source: csv``: CSV files (TSV for ``.tsv``/``.tab``), in memory or streamed from disk with tf.data."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from dlcli.data import table, tablefile
from dlcli.data.sources.base import TableConfig

NAME = "csv"
EXTENSIONS = (".csv", ".tsv", ".tab", ".txt")
STREAM_ABOVE_BYTES = 1 << 30  # streaming: auto streams files above 1 GiB


class CsvConfig(TableConfig):
    source: Literal["csv"] = "csv"
    streaming: bool | Literal["auto"] = Field(
        "auto", description="Stream the file from disk with tf.data (auto: files above 1 GiB)."
    )


CONFIG = CsvConfig


def streams(config) -> bool:
    """Stream this config's data? (``streaming: true``, or ``auto`` and a file above the threshold)."""
    data = config.data
    if data.streaming == "auto":
        return os.path.getsize(data.path) > STREAM_ABOVE_BYTES
    return data.streaming


probe = tablefile.probe
read = table.read
read_inputs = table.read_features


def scoring_data(path: str, trained, schema) -> dict:
    """The ``data:`` keys that score a trained run on every row of the table at ``path``."""
    return table.scoring_data(NAME, path, trained, schema)
