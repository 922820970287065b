"""What a data source module provides, and helpers the sources share.

Each source module (``sklearn``, ``npz``, ...) subclasses ``keys.SourceConfig``
with its own ``source`` literal and keys (a table format, ``formats.csv`` ...,
subclasses ``keys.TableConfig``); ``dlcli.config.schema`` joins them into one
union discriminated by ``source``. A source module also provides:

- ``probe(config) -> Probe``: shapes, task and classes, read cheaply (``validate``), for a named
  dataset; ``None`` for a data file, which ``validate`` reads exactly as ``train`` does (``load.probe``);
- ``read(config) -> RawData``: the arrays, before any split;
- ``EXTENSIONS``: the file suffixes it reads (inferring ``source`` from ``path``,
  ``predict`` and ``evaluate --data``), and for file sources ``read_inputs``
  (the features of a file to predict on) and ``scoring_data`` (a file to
  evaluate a trained run on).
"""

from __future__ import annotations

from dlcli import names
from dlcli.data.keys import SourceConfig, TableConfig

__all__ = ["SourceConfig", "TableConfig", "known_name"]


def known_name(source: str, value: str, known) -> str:
    """A dataset name of a named source, or an error that lists the names."""
    if value not in known:
        raise ValueError(
            f"unknown {source} dataset '{value}'{names.did_you_mean(value, known)}; one of {', '.join(known)}"
        )
    return value
