"""Table formats, one module each, and their registry: adding a format is one module and one line here.

A format module provides:

- ``NAME`` (its ``source:`` name), ``SUFFIXES`` (the file names it reads, compression aside) and ``CONFIG``
  (its ``data:`` keys: ``keys.TableConfig`` and any of its own);
- ``TYPED``: whether cells carry their own types (Parquet, JSON) or are text to read (CSV);
- ``header(path, dialect)``: the column names, without loading the table;
- ``read_frame(path, usecols, dialect)``: (pandas frame, (``"line"`` or ``"row"``, a label per row));
- optionally ``as_text(path, columns, dialect)``: the cells as written (an id ``007`` stays ``007``), for
  a text format, and ``streams(config)``: whether to stream the file with tf.data.

Every command reads tables through this registry: validate and train (``data.table``, ``data.stream``),
predict, ``evaluate --data``, export's check rows, the Python API and serve (``data.newrows``).
"""

from __future__ import annotations

from types import ModuleType

from dlcli.data.formats import csv, jsonl, parquet

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (csv, parquet, jsonl)}
DEFAULT = "csv"  # a table file whose name says nothing (``data.txt.gz``, a bare ``.zip``) is read as CSV


def module(name: str) -> ModuleType:
    """The format ``source: <name>`` reads."""
    return FORMATS[name]


def suffixes() -> dict[str, str]:
    """File suffix -> format name."""
    return {suffix: name for name, m in FORMATS.items() for suffix in m.SUFFIXES}


def of_suffix(suffix: str, default: str | None = DEFAULT) -> ModuleType | None:
    """The format of a file suffix (compression aside), else ``default``'s."""
    name = suffixes().get(suffix, default)
    return FORMATS[name] if name is not None else None
