"""``source: csv``: CSV files (TSV for ``.tsv``/``.tab``), compressed or not, in memory or streamed with tf.data."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, field_validator

from dlcli.data import table, tablefile
from dlcli.data.sources.base import TableConfig

NAME = "csv"
EXTENSIONS = (".csv", ".tsv", ".tab", ".txt")
STREAM_ABOVE_BYTES = 1 << 30  # streaming: auto streams files above 1 GiB


class CsvConfig(TableConfig):
    source: Literal["csv"] = "csv"
    delimiter: Literal[",", ";", "\t", "|"] | None = Field(
        None, description="Column delimiter; default: the one of , ; tab | that splits the header line."
    )
    decimal: Literal[".", ","] = Field(".", description="Decimal mark of the numbers: . (49.1) or , (49,1).")

    @field_validator("delimiter", "decimal", mode="before")
    @classmethod
    def _known_mark(cls, value, info):
        allowed = tablefile.DELIMITERS if info.field_name == "delimiter" else (".", ",")
        if value is not None and value not in allowed:
            shown = " ".join("'\\t' (tab)" if mark == "\t" else repr(mark) for mark in allowed)
            raise ValueError(f"{value!r} is not a {info.field_name} dlcli reads; one of {shown}")
        return value

    streaming: bool | Literal["auto"] = Field(
        "auto", description="Stream the file from disk with tf.data (auto: files above 1 GiB)."
    )


CONFIG = CsvConfig


def streams(config) -> bool:
    """Stream this config's data? (``streaming: true``, or ``auto`` and a file above the threshold)."""
    data = config.data
    if data.streaming == "auto":  # tf.data reads plain and gzip text only
        return tablefile.compression(data.path) in (None, ".gz") and os.path.getsize(data.path) > STREAM_ABOVE_BYTES
    return data.streaming


probe = None  # a table is probed by reading it as train does (load.probe)
read = table.read
read_inputs = table.read_features


def scoring_data(path: str, trained, schema) -> dict:
    """The ``data:`` keys that score a trained run on every row of the table at ``path``."""
    return table.scoring_data(NAME, path, trained, schema)
