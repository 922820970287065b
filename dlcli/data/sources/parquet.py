"""``source: parquet``: Parquet tables, read in memory."""

from __future__ import annotations

from typing import Literal

from dlcli.data import table, tablefile
from dlcli.data.sources.base import TableConfig

NAME = "parquet"
EXTENSIONS = tablefile.PARQUET


class ParquetConfig(TableConfig):
    source: Literal["parquet"] = "parquet"


probe = None  # a table is probed by reading it as train does (load.probe)
read = table.read
read_inputs = table.read_features


CONFIG = ParquetConfig


def scoring_data(path: str, trained, schema) -> dict:
    """The ``data:`` keys that score a trained run on every row of the table at ``path``."""
    return table.scoring_data(NAME, path, trained, schema)
